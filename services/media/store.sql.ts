import { fileURLToPath } from "node:url";
import type { SqlDatabase } from "../kit/sql/database.js";
import { migrate } from "../kit/sql/migrations.js";
import type { AttachmentRow, AttachmentStore, NewAttachment, ReadyFields } from "./store.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

const COLUMNS = `attachment_id::text AS attachment_id, owner_id, conversation_id, file_name, content_type,
  declared_size, declared_sha256, state, upload_key, served_key, thumbnail_key, size_bytes, sha256, width,
  height, created_at, completed_at, original_to_remove`;

interface Row {
  attachment_id: string;
  owner_id: string;
  conversation_id: string;
  file_name: string;
  content_type: string;
  declared_size: string | number;
  declared_sha256: string;
  state: AttachmentRow["state"];
  upload_key: string;
  served_key: string | null;
  thumbnail_key: string | null;
  size_bytes: string | number | null;
  sha256: string | null;
  width: number | null;
  height: number | null;
  created_at: Date;
  completed_at: Date | null;
  original_to_remove: boolean;
}

/** Attachment metadata on media's own SQL database (PGlite or PostgreSQL, the same SQL). */
export class SqlAttachmentStore implements AttachmentStore {
  private constructor(private readonly db: SqlDatabase) {}

  static async open(db: SqlDatabase): Promise<SqlAttachmentStore> {
    await migrate(db, MIGRATIONS_DIR);
    return new SqlAttachmentStore(db);
  }

  async insert(row: NewAttachment): Promise<void> {
    await this.db.query(
      `INSERT INTO attachments (attachment_id, owner_id, conversation_id, file_name, content_type,
         declared_size, declared_sha256, state, upload_key, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)`,
      [
        row.attachmentId,
        row.ownerId,
        row.conversationId,
        row.fileName,
        row.contentType,
        row.declaredSize,
        row.declaredSha256,
        row.uploadKey,
        row.createdAt,
      ],
    );
  }

  async get(attachmentId: string): Promise<AttachmentRow | undefined> {
    return (await this.getMany([attachmentId]))[0];
  }

  async getMany(attachmentIds: string[]): Promise<AttachmentRow[]> {
    if (attachmentIds.length === 0) return [];
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM attachments WHERE attachment_id = ANY($1::uuid[])`,
      [attachmentIds],
    );
    return rows.map(toAttachment);
  }

  async markReady(attachmentId: string, fields: ReadyFields): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE attachments SET state = 'ready', served_key = $2, thumbnail_key = $3, size_bytes = $4,
         sha256 = $5, width = $6, height = $7, completed_at = $8, original_to_remove = $9
       WHERE attachment_id = $1 AND state = 'pending' RETURNING attachment_id`,
      [
        attachmentId,
        fields.servedKey,
        fields.thumbnailKey,
        fields.sizeBytes,
        fields.sha256,
        fields.width,
        fields.height,
        fields.completedAt,
        fields.originalToRemove,
      ],
    );
    return rows.length > 0;
  }

  async markRejected(attachmentId: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE attachments SET state = 'rejected', completed_at = now()
       WHERE attachment_id = $1 AND state = 'pending' RETURNING attachment_id`,
      [attachmentId],
    );
    return rows.length > 0;
  }

  async stalePending(before: Date, limit: number): Promise<AttachmentRow[]> {
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM attachments WHERE state = 'pending' AND created_at < $1
       ORDER BY created_at LIMIT $2`,
      [before, limit],
    );
    return rows.map(toAttachment);
  }

  async deletePending(attachmentId: string): Promise<boolean> {
    const rows = await this.db.query(
      "DELETE FROM attachments WHERE attachment_id = $1 AND state = 'pending' RETURNING attachment_id",
      [attachmentId],
    );
    return rows.length > 0;
  }

  async originalsToRemove(limit: number): Promise<AttachmentRow[]> {
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM attachments WHERE original_to_remove ORDER BY completed_at LIMIT $1`,
      [limit],
    );
    return rows.map(toAttachment);
  }

  async originalRemoved(attachmentId: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE attachments SET original_to_remove = false
       WHERE attachment_id = $1 AND original_to_remove RETURNING attachment_id`,
      [attachmentId],
    );
    return rows.length > 0;
  }
}

function toAttachment(row: Row): AttachmentRow {
  return {
    attachmentId: row.attachment_id,
    ownerId: row.owner_id,
    conversationId: row.conversation_id,
    fileName: row.file_name,
    contentType: row.content_type,
    declaredSize: Number(row.declared_size),
    declaredSha256: row.declared_sha256,
    state: row.state,
    uploadKey: row.upload_key,
    servedKey: row.served_key,
    thumbnailKey: row.thumbnail_key,
    sizeBytes: row.size_bytes === null ? null : Number(row.size_bytes),
    sha256: row.sha256,
    width: row.width,
    height: row.height,
    createdAt: row.created_at,
    completedAt: row.completed_at,
    originalToRemove: row.original_to_remove,
  };
}
