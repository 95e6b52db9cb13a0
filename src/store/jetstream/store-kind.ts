import { option } from "../../options/option-table.js";
import { nonEmpty, positiveInt } from "../../options/parsers.js";
import { storeKind } from "../store-kind.js";
import { jetStreamDefaults, parseJetStreamChoice, type JetStreamStoreChoice } from "./store-choice.js";

/** The JetStream store's own options: the stream, its subject and replicas, and how to reach the NATS servers. */
export const jetStreamStoreOptions = Object.freeze({
  natsStream: option({ flag: "nats-stream", value: "NAME", defaultText: jetStreamDefaults.stream, parse: nonEmpty, help: "JetStream stream name (with --store nats://)" }),
  natsSubject: option({ flag: "nats-subject", value: "SUBJECT", defaultText: jetStreamDefaults.subject, parse: nonEmpty, help: "subject the records are published on (with --store nats://)" }),
  natsReplicas: option({ flag: "nats-replicas", value: "N", defaultText: String(jetStreamDefaults.replicas), parse: positiveInt, help: "copies JetStream keeps of each record, for a stream this server makes" }),
  natsTokenFile: option({ flag: "nats-token-file", value: "FILE", parse: nonEmpty, help: "file holding the token the NATS servers require" }),
  natsCaFile: option({ flag: "nats-ca", value: "FILE", parse: nonEmpty, help: "reach the NATS servers over TLS, trusting this CA (PEM)" }),
});

/** A NATS JetStream stream, named by `--store nats://HOST:PORT[,HOST:PORT...]` (docs/jetstream.md). */
export const jetStreamStoreKind = storeKind<JetStreamStoreChoice, typeof jetStreamStoreOptions>({
  kind: "nats",
  urlForm: "nats://HOST:PORT[,HOST:PORT...]",
  names: (url) => url.startsWith("nats://"),
  options: jetStreamStoreOptions,
  choose: (url, v) => parseJetStreamChoice(url, { stream: v.natsStream, subject: v.natsSubject, replicas: v.natsReplicas }),
});
