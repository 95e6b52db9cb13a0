from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
IMPORT_MODE_MERGE: ImportMode
IMPORT_MODE_REPLACE: ImportMode
IMPORT_MODE_UNSPECIFIED: ImportMode

class ApplyDecayRequest(_message.Message):
    __slots__ = ["factor", "key", "min_count"]
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    factor: float
    key: str
    min_count: float
    def __init__(self, key: _Optional[str] = ..., factor: _Optional[float] = ..., min_count: _Optional[float] = ...) -> None: ...

class ApplyDecayResponse(_message.Message):
    __slots__ = ["keys_decayed", "seq"]
    KEYS_DECAYED_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    keys_decayed: int
    seq: int
    def __init__(self, keys_decayed: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class BatchUpdateRequest(_message.Message):
    __slots__ = ["outcomes"]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[TrustOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[TrustOutcome, _Mapping]]] = ...) -> None: ...

class BatchUpdateResponse(_message.Message):
    __slots__ = ["metrics", "seq"]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[KeyMetrics]
    seq: int
    def __init__(self, metrics: _Optional[_Iterable[_Union[KeyMetrics, _Mapping]]] = ..., seq: _Optional[int] = ...) -> None: ...

class ExportTrustRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ExportTrustResponse(_message.Message):
    __slots__ = ["record"]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: TrustRecord
    def __init__(self, record: _Optional[_Union[TrustRecord, _Mapping]] = ...) -> None: ...

class ExportTrustToFileRequest(_message.Message):
    __slots__ = ["path"]
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class ExportTrustToFileResponse(_message.Message):
    __slots__ = ["key_count", "path"]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    key_count: int
    path: str
    def __init__(self, path: _Optional[str] = ..., key_count: _Optional[int] = ...) -> None: ...

class GenerateReportRequest(_message.Message):
    __slots__ = ["high_threshold", "low_threshold", "min_samples"]
    HIGH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LOW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    high_threshold: float
    low_threshold: float
    min_samples: int
    def __init__(self, min_samples: _Optional[int] = ..., high_threshold: _Optional[float] = ..., low_threshold: _Optional[float] = ...) -> None: ...

class GenerateReportResponse(_message.Message):
    __slots__ = ["report"]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: TrustReport
    def __init__(self, report: _Optional[_Union[TrustReport, _Mapping]] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ["keys", "z"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    z: float
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., z: _Optional[float] = ...) -> None: ...

class GetMetricsResponse(_message.Message):
    __slots__ = ["metrics"]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[KeyMetrics]
    def __init__(self, metrics: _Optional[_Iterable[_Union[KeyMetrics, _Mapping]]] = ...) -> None: ...

class ImportTrustFromFileRequest(_message.Message):
    __slots__ = ["mode", "path"]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    mode: ImportMode
    path: str
    def __init__(self, path: _Optional[str] = ..., mode: _Optional[_Union[ImportMode, str]] = ...) -> None: ...

class ImportTrustFromFileResponse(_message.Message):
    __slots__ = ["found", "key_count"]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    found: bool
    key_count: int
    def __init__(self, found: bool = ..., key_count: _Optional[int] = ...) -> None: ...

class ImportTrustRequest(_message.Message):
    __slots__ = ["mode", "records"]
    MODE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    mode: ImportMode
    records: _containers.RepeatedCompositeFieldContainer[TrustRecord]
    def __init__(self, mode: _Optional[_Union[ImportMode, str]] = ..., records: _Optional[_Iterable[_Union[TrustRecord, _Mapping]]] = ...) -> None: ...

class ImportTrustResponse(_message.Message):
    __slots__ = ["key_count", "seq"]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    key_count: int
    seq: int
    def __init__(self, key_count: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class KeyMetrics(_message.Message):
    __slots__ = ["alpha", "beta", "confidence_lower", "confidence_strength", "confidence_upper", "key", "last_update", "sample_size", "trust"]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LOWER_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_UPPER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    alpha: float
    beta: float
    confidence_lower: float
    confidence_strength: float
    confidence_upper: float
    key: str
    last_update: float
    sample_size: int
    trust: float
    def __init__(self, key: _Optional[str] = ..., trust: _Optional[float] = ..., confidence_lower: _Optional[float] = ..., confidence_upper: _Optional[float] = ..., confidence_strength: _Optional[float] = ..., sample_size: _Optional[int] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ..., last_update: _Optional[float] = ...) -> None: ...

class TrustOutcome(_message.Message):
    __slots__ = ["key", "success", "weight"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    key: str
    success: bool
    weight: float
    def __init__(self, key: _Optional[str] = ..., success: bool = ..., weight: _Optional[float] = ...) -> None: ...

class TrustPoint(_message.Message):
    __slots__ = ["time", "trust"]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    time: float
    trust: float
    def __init__(self, time: _Optional[float] = ..., trust: _Optional[float] = ...) -> None: ...

class TrustRecord(_message.Message):
    __slots__ = ["alpha", "beta", "history", "key", "last_update"]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_FIELD_NUMBER: _ClassVar[int]
    alpha: float
    beta: float
    history: _containers.RepeatedCompositeFieldContainer[TrustPoint]
    key: str
    last_update: float
    def __init__(self, key: _Optional[str] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ..., last_update: _Optional[float] = ..., history: _Optional[_Iterable[_Union[TrustPoint, _Mapping]]] = ...) -> None: ...

class TrustReport(_message.Message):
    __slots__ = ["high_trust", "low_trust", "summary"]
    HIGH_TRUST_FIELD_NUMBER: _ClassVar[int]
    LOW_TRUST_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    high_trust: _containers.RepeatedCompositeFieldContainer[KeyMetrics]
    low_trust: _containers.RepeatedCompositeFieldContainer[KeyMetrics]
    summary: TrustSummary
    def __init__(self, summary: _Optional[_Union[TrustSummary, _Mapping]] = ..., high_trust: _Optional[_Iterable[_Union[KeyMetrics, _Mapping]]] = ..., low_trust: _Optional[_Iterable[_Union[KeyMetrics, _Mapping]]] = ...) -> None: ...

class TrustSummary(_message.Message):
    __slots__ = ["high_threshold", "high_trust_count", "low_threshold", "low_trust_count", "mean_trust", "min_samples", "reported_keys", "total_keys"]
    HIGH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HIGH_TRUST_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LOW_TRUST_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_TRUST_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    REPORTED_KEYS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_KEYS_FIELD_NUMBER: _ClassVar[int]
    high_threshold: float
    high_trust_count: int
    low_threshold: float
    low_trust_count: int
    mean_trust: float
    min_samples: int
    reported_keys: int
    total_keys: int
    def __init__(self, total_keys: _Optional[int] = ..., reported_keys: _Optional[int] = ..., mean_trust: _Optional[float] = ..., high_trust_count: _Optional[int] = ..., low_trust_count: _Optional[int] = ..., min_samples: _Optional[int] = ..., high_threshold: _Optional[float] = ..., low_threshold: _Optional[float] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ["outcome"]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: TrustOutcome
    def __init__(self, outcome: _Optional[_Union[TrustOutcome, _Mapping]] = ...) -> None: ...

class UpdateResponse(_message.Message):
    __slots__ = ["metrics", "seq"]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    metrics: KeyMetrics
    seq: int
    def __init__(self, metrics: _Optional[_Union[KeyMetrics, _Mapping]] = ..., seq: _Optional[int] = ...) -> None: ...

class ImportMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
