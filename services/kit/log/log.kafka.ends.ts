import type { Kafka } from "kafkajs";

/** How long partition leaders are trusted without asking Kafka again: its clients' metadata.max.age.ms. */
const METADATA_MAX_AGE_MS = 300_000;

/** The part of kafkajs 2.2.4's Cluster (src/cluster/index.js) used here. */
interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number }[];
  fetchTopicsOffset(
    topics: { topic: string; fromBeginning: boolean; partitions: { partition: number }[] }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

type CreateCluster = (options: { metadataMaxAge: number; allowAutoTopicCreation: boolean }) => Cluster;

/**
 * Where a topic's partitions end (their high-water marks), asked of each partition's leader in one
 * ListOffsets request. kafkajs's admin.fetchTopicOffsets costs three round trips in a row — a
 * Metadata request on every call (the admin's cluster is built with no metadata max age) and then
 * ListOffsets for the latest and for the earliest offsets of every partition — where a read that
 * must see every acknowledged record needs only the latest of the partition it reads. kafkajs has
 * no public call for that, so this uses the Cluster its Kafka builds for its own clients (the same
 * brokers, TLS, SASL, timeouts and retries), with leaders kept for five minutes as Kafka's own
 * clients keep them, and asked again after any failure (a moved leader, a restarted broker).
 */
export class LogEnds {
  private readonly topics = new Set<string>();
  private stale = false;

  private constructor(private readonly cluster: Cluster) {}

  static async connect(kafka: Kafka): Promise<LogEnds> {
    const cluster = clusterOf(kafka);
    await cluster.connect();
    return new LogEnds(cluster);
  }

  /** The end of each partition asked for (every partition when none is given). */
  async of(topic: string, partitions?: number[]): Promise<Map<number, bigint>> {
    try {
      if (!this.topics.has(topic)) {
        await this.cluster.addTargetTopic(topic);
        this.topics.add(topic);
      }
      if (this.stale) await this.cluster.refreshMetadata();
      else await this.cluster.refreshMetadataIfNecessary();
      this.stale = false;
      const asked = partitions ?? this.cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
      const [offsets] = await this.cluster.fetchTopicsOffset([
        { topic, fromBeginning: false, partitions: asked.map((partition) => ({ partition })) },
      ]);
      const ends = new Map((offsets?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
      // kafkajs leaves out a partition its metadata has no leader for: never read that as "no tail".
      const missing = asked.filter((partition) => !ends.has(partition));
      if (missing.length > 0) {
        throw Object.assign(new Error(`no leader known for ${topic} partitions ${missing.join(", ")}`), {
          retriable: true,
        });
      }
      return ends;
    } catch (err) {
      this.stale = true;
      throw err;
    }
  }

  disconnect(): Promise<void> {
    return this.cluster.disconnect();
  }
}

/** A new Cluster from kafkajs's Kafka, as it makes one for each producer, consumer and admin. */
function clusterOf(kafka: Kafka): Cluster {
  const key = Object.getOwnPropertySymbols(kafka).find(
    (symbol) => symbol.description === "private:Kafka:createCluster",
  );
  const create = key && (kafka as unknown as Record<symbol, CreateCluster | undefined>)[key];
  if (typeof create !== "function") {
    throw new Error("this kafkajs has no private:Kafka:createCluster (LogEnds is written for kafkajs 2.2.4)");
  }
  return create.call(kafka, { metadataMaxAge: METADATA_MAX_AGE_MS, allowAutoTopicCreation: false });
}
