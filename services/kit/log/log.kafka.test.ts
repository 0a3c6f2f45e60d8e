import { logContract } from "./log.contract.js";
import type { MessageLog } from "./log.js";
import { KafkaLog } from "./log.kafka.js";
import { deleteTestTopics, testKafkaOptions } from "./log.kafka.testing.js";

logContract("kafka", async () => {
  const options = testKafkaOptions();
  let log: MessageLog = await KafkaLog.open(options);
  return {
    log,
    async reopen() {
      await log.close();
      log = await KafkaLog.open(options);
      return log;
    },
    async cleanup() {
      await log.close();
      await deleteTestTopics(options.topicPrefix);
    },
  };
});
