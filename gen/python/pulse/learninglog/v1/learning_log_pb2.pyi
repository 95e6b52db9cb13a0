from google.protobuf import struct_pb2 as _struct_pb2
from google.rpc import error_details_pb2 as _error_details_pb2
from pulse.trust.v1 import trust_pb2 as _trust_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
RUN_STATUS_ENDED_WITHOUT_FINISH: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_FINISHED: RunStatus
RUN_STATUS_LOGGING: RunStatus
RUN_STATUS_UNSPECIFIED: RunStatus

class EventAck(_message.Message):
    __slots__ = ["duplicate", "event_id", "redacted_fields", "redactions", "seq", "timestamp"]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REDACTED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    REDACTIONS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    event_id: str
    redacted_fields: _containers.RepeatedScalarFieldContainer[str]
    redactions: _containers.RepeatedCompositeFieldContainer[RedactedField]
    seq: int
    timestamp: str
    def __init__(self, event_id: _Optional[str] = ..., seq: _Optional[int] = ..., timestamp: _Optional[str] = ..., redacted_fields: _Optional[_Iterable[str]] = ..., duplicate: bool = ..., redactions: _Optional[_Iterable[_Union[RedactedField, _Mapping]]] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ["code", "field_violations", "index", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    field_violations: _containers.RepeatedCompositeFieldContainer[_error_details_pb2.BadRequest.FieldViolation]
    index: int
    message: str
    def __init__(self, index: _Optional[int] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., field_violations: _Optional[_Iterable[_Union[_error_details_pb2.BadRequest.FieldViolation, _Mapping]]] = ...) -> None: ...

class EventRedaction(_message.Message):
    __slots__ = ["details", "fields", "index"]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    details: _containers.RepeatedCompositeFieldContainer[RedactedField]
    fields: _containers.RepeatedScalarFieldContainer[str]
    index: int
    def __init__(self, index: _Optional[int] = ..., fields: _Optional[_Iterable[str]] = ..., details: _Optional[_Iterable[_Union[RedactedField, _Mapping]]] = ...) -> None: ...

class ExportTrustDataRequest(_message.Message):
    __slots__ = ["filepath"]
    FILEPATH_FIELD_NUMBER: _ClassVar[int]
    filepath: str
    def __init__(self, filepath: _Optional[str] = ...) -> None: ...

class ExportTrustDataResponse(_message.Message):
    __slots__ = ["ack", "error", "success"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    error: str
    success: bool
    def __init__(self, success: bool = ..., error: _Optional[str] = ..., ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class GenerateTrustReportRequest(_message.Message):
    __slots__ = ["high_threshold", "low_threshold", "min_samples"]
    HIGH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LOW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    high_threshold: float
    low_threshold: float
    min_samples: int
    def __init__(self, min_samples: _Optional[int] = ..., high_threshold: _Optional[float] = ..., low_threshold: _Optional[float] = ...) -> None: ...

class GenerateTrustReportResponse(_message.Message):
    __slots__ = ["ack", "report"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    report: _trust_pb2.TrustReport
    def __init__(self, report: _Optional[_Union[_trust_pb2.TrustReport, _Mapping]] = ..., ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ["batch_events_max", "message_bytes_max", "record_bytes_max"]
    BATCH_EVENTS_MAX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    RECORD_BYTES_MAX_FIELD_NUMBER: _ClassVar[int]
    batch_events_max: int
    message_bytes_max: int
    record_bytes_max: int
    def __init__(self, message_bytes_max: _Optional[int] = ..., batch_events_max: _Optional[int] = ..., record_bytes_max: _Optional[int] = ...) -> None: ...

class HoldRunRequest(_message.Message):
    __slots__ = ["run"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: str
    def __init__(self, run: _Optional[str] = ...) -> None: ...

class HoldRunResponse(_message.Message):
    __slots__ = ["run"]
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: str
    def __init__(self, run: _Optional[str] = ...) -> None: ...

class ImportTrustDataRequest(_message.Message):
    __slots__ = ["filepath"]
    FILEPATH_FIELD_NUMBER: _ClassVar[int]
    filepath: str
    def __init__(self, filepath: _Optional[str] = ...) -> None: ...

class ImportTrustDataResponse(_message.Message):
    __slots__ = ["ack", "error", "success"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    error: str
    success: bool
    def __init__(self, success: bool = ..., error: _Optional[str] = ..., ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class IngestEventsRequest(_message.Message):
    __slots__ = ["batch_id", "events"]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    events: _containers.RepeatedCompositeFieldContainer[LearningEvent]
    def __init__(self, batch_id: _Optional[int] = ..., events: _Optional[_Iterable[_Union[LearningEvent, _Mapping]]] = ...) -> None: ...

class IngestEventsResponse(_message.Message):
    __slots__ = ["batch_id", "count", "duplicates", "errors", "first_seq", "last_seq", "redactions", "timestamp"]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    REDACTIONS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    count: int
    duplicates: int
    errors: _containers.RepeatedCompositeFieldContainer[EventError]
    first_seq: int
    last_seq: int
    redactions: _containers.RepeatedCompositeFieldContainer[EventRedaction]
    timestamp: str
    def __init__(self, batch_id: _Optional[int] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., count: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ..., duplicates: _Optional[int] = ..., timestamp: _Optional[str] = ..., redactions: _Optional[_Iterable[_Union[EventRedaction, _Mapping]]] = ...) -> None: ...

class LearningEvent(_message.Message):
    __slots__ = ["arc_regret", "bayesian_trust_metrics", "generic", "learning_summary", "revision_trigger", "rule_activation", "rule_effectiveness", "run", "symbolic_upgrade", "variable_weight_change"]
    ARC_REGRET_FIELD_NUMBER: _ClassVar[int]
    BAYESIAN_TRUST_METRICS_FIELD_NUMBER: _ClassVar[int]
    GENERIC_FIELD_NUMBER: _ClassVar[int]
    LEARNING_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REVISION_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    RULE_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    RULE_EFFECTIVENESS_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    SYMBOLIC_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_WEIGHT_CHANGE_FIELD_NUMBER: _ClassVar[int]
    arc_regret: LogArcRegretRequest
    bayesian_trust_metrics: LogBayesianTrustMetricsRequest
    generic: LogEventRequest
    learning_summary: LogLearningSummaryRequest
    revision_trigger: LogRevisionTriggerRequest
    rule_activation: LogRuleActivationRequest
    rule_effectiveness: LogRuleEffectivenessRequest
    run: str
    symbolic_upgrade: LogSymbolicUpgradeRequest
    variable_weight_change: LogVariableWeightChangeRequest
    def __init__(self, generic: _Optional[_Union[LogEventRequest, _Mapping]] = ..., variable_weight_change: _Optional[_Union[LogVariableWeightChangeRequest, _Mapping]] = ..., symbolic_upgrade: _Optional[_Union[LogSymbolicUpgradeRequest, _Mapping]] = ..., revision_trigger: _Optional[_Union[LogRevisionTriggerRequest, _Mapping]] = ..., arc_regret: _Optional[_Union[LogArcRegretRequest, _Mapping]] = ..., learning_summary: _Optional[_Union[LogLearningSummaryRequest, _Mapping]] = ..., rule_activation: _Optional[_Union[LogRuleActivationRequest, _Mapping]] = ..., bayesian_trust_metrics: _Optional[_Union[LogBayesianTrustMetricsRequest, _Mapping]] = ..., rule_effectiveness: _Optional[_Union[LogRuleEffectivenessRequest, _Mapping]] = ..., run: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ["runs"]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, runs: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ["indexed_seq", "runs"]
    INDEXED_SEQ_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    indexed_seq: int
    runs: _containers.RepeatedCompositeFieldContainer[RunInfo]
    def __init__(self, runs: _Optional[_Iterable[_Union[RunInfo, _Mapping]]] = ..., indexed_seq: _Optional[int] = ...) -> None: ...

class LogArcRegretRequest(_message.Message):
    __slots__ = ["event_id", "scores"]
    class ScoresEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    scores: _containers.ScalarMap[str, float]
    def __init__(self, scores: _Optional[_Mapping[str, float]] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogArcRegretResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogBatchRequest(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[LearningEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[LearningEvent, _Mapping]]] = ...) -> None: ...

class LogBatchResponse(_message.Message):
    __slots__ = ["acks", "errors", "partial_success"]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[EventAck]
    errors: _containers.RepeatedCompositeFieldContainer[EventError]
    partial_success: PartialSuccess
    def __init__(self, acks: _Optional[_Iterable[_Union[EventAck, _Mapping]]] = ..., partial_success: _Optional[_Union[PartialSuccess, _Mapping]] = ..., errors: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ...) -> None: ...

class LogBayesianTrustMetricsRequest(_message.Message):
    __slots__ = ["event_id", "key", "kind"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    key: str
    kind: str
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[str] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogBayesianTrustMetricsResponse(_message.Message):
    __slots__ = ["ack", "metrics"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    metrics: _trust_pb2.KeyMetrics
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ..., metrics: _Optional[_Union[_trust_pb2.KeyMetrics, _Mapping]] = ...) -> None: ...

class LogEventRequest(_message.Message):
    __slots__ = ["context", "data", "event_id", "event_type"]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    context: _struct_pb2.Struct
    data: _struct_pb2.Struct
    event_id: str
    event_type: str
    def __init__(self, event_type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogEventResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogLearningSummaryRequest(_message.Message):
    __slots__ = ["event_id", "summary"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    summary: _struct_pb2.Struct
    def __init__(self, summary: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogLearningSummaryResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogRecord(_message.Message):
    __slots__ = ["event_id", "event_type", "json", "seq", "timestamp"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    json: str
    seq: int
    timestamp: str
    def __init__(self, seq: _Optional[int] = ..., event_id: _Optional[str] = ..., timestamp: _Optional[str] = ..., event_type: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class LogRevisionTriggerRequest(_message.Message):
    __slots__ = ["event_id", "reason"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    reason: str
    def __init__(self, reason: _Optional[str] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogRevisionTriggerResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogRuleActivationRequest(_message.Message):
    __slots__ = ["event_id", "forecast_id", "outcome", "rule_id", "success", "variable_id"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    FORECAST_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    forecast_id: str
    outcome: _struct_pb2.Value
    rule_id: str
    success: bool
    variable_id: str
    def __init__(self, rule_id: _Optional[str] = ..., variable_id: _Optional[str] = ..., outcome: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., forecast_id: _Optional[str] = ..., success: bool = ..., event_id: _Optional[str] = ...) -> None: ...

class LogRuleActivationResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogRuleEffectivenessRequest(_message.Message):
    __slots__ = ["activation_count", "event_id", "impact_score", "rule_id", "success_rate"]
    ACTIVATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    IMPACT_SCORE_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    activation_count: int
    event_id: str
    impact_score: float
    rule_id: str
    success_rate: float
    def __init__(self, rule_id: _Optional[str] = ..., activation_count: _Optional[int] = ..., success_rate: _Optional[float] = ..., impact_score: _Optional[float] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogRuleEffectivenessResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogSymbolicUpgradeRequest(_message.Message):
    __slots__ = ["event_id", "plan"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    plan: _struct_pb2.Struct
    def __init__(self, plan: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogSymbolicUpgradeResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class LogVariableWeightChangeRequest(_message.Message):
    __slots__ = ["event_id", "new_weight", "old_weight", "variable"]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    OLD_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    new_weight: float
    old_weight: float
    variable: str
    def __init__(self, variable: _Optional[str] = ..., old_weight: _Optional[float] = ..., new_weight: _Optional[float] = ..., event_id: _Optional[str] = ...) -> None: ...

class LogVariableWeightChangeResponse(_message.Message):
    __slots__ = ["ack"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: EventAck
    def __init__(self, ack: _Optional[_Union[EventAck, _Mapping]] = ...) -> None: ...

class PartialSuccess(_message.Message):
    __slots__ = ["error_message", "rejected_events"]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    error_message: str
    rejected_events: int
    def __init__(self, rejected_events: _Optional[int] = ..., error_message: _Optional[str] = ...) -> None: ...

class ReadEventsRequest(_message.Message):
    __slots__ = ["event_types", "follow", "from_seq", "limit", "runs", "since", "until"]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    follow: bool
    from_seq: int
    limit: int
    runs: _containers.RepeatedScalarFieldContainer[str]
    since: str
    until: str
    def __init__(self, from_seq: _Optional[int] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., follow: bool = ..., runs: _Optional[_Iterable[str]] = ...) -> None: ...

class ReadEventsResponse(_message.Message):
    __slots__ = ["records"]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[LogRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[LogRecord, _Mapping]]] = ...) -> None: ...

class RedactedField(_message.Message):
    __slots__ = ["field", "matched", "rule"]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    field: str
    matched: str
    rule: str
    def __init__(self, field: _Optional[str] = ..., matched: _Optional[str] = ..., rule: _Optional[str] = ...) -> None: ...

class RunInfo(_message.Message):
    __slots__ = ["error", "event_count", "event_types", "first_seq", "first_timestamp", "last_seq", "last_timestamp", "run", "status"]
    class EventTypesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    FIRST_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    error: str
    event_count: int
    event_types: _containers.ScalarMap[str, int]
    first_seq: int
    first_timestamp: str
    last_seq: int
    last_timestamp: str
    run: str
    status: RunStatus
    def __init__(self, run: _Optional[str] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., first_timestamp: _Optional[str] = ..., last_timestamp: _Optional[str] = ..., event_count: _Optional[int] = ..., event_types: _Optional[_Mapping[str, int]] = ..., status: _Optional[_Union[RunStatus, str]] = ..., error: _Optional[str] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[LearningEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[LearningEvent, _Mapping]]] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ["count", "duplicates", "errors", "first_seq", "last_seq"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    count: int
    duplicates: int
    errors: _containers.RepeatedCompositeFieldContainer[EventError]
    first_seq: int
    last_seq: int
    def __init__(self, count: _Optional[int] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ..., duplicates: _Optional[int] = ...) -> None: ...

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
