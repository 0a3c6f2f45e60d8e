import { Kafka, logLevel } from "kafkajs";
import { fixKafkajsIdleLoop } from "../services/kit/log/kafkajs-idle-loop.js";

// Its idle busy loop would spin in the test process too (services/kit/log/kafkajs-idle-loop.ts).
fixKafkajsIdleLoop();

/** A quiet kafkajs client for tests' own set-up, clean-up and inspection of the real broker. */
export function testKafka(clientId: string, brokers: string[]): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
}
