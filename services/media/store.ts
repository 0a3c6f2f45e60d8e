/** One attachment's metadata, as media keeps it. */
export interface AttachmentRow {
  attachmentId: string;
  ownerId: string;
  conversationId: string;
  fileName: string;
  contentType: string;
  declaredSize: number;
  declaredSha256: string;
  state: "pending" | "ready" | "rejected";
  uploadKey: string;
  servedKey: string | null;
  thumbnailKey: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  width: number | null;
  height: number | null;
  createdAt: Date;
  completedAt: Date | null;
  /** The uploaded original (an image's, with its metadata) still has to be deleted. */
  originalToRemove: boolean;
}

export type NewAttachment = Pick<
  AttachmentRow,
  | "attachmentId"
  | "ownerId"
  | "conversationId"
  | "fileName"
  | "contentType"
  | "declaredSize"
  | "declaredSha256"
  | "uploadKey"
  | "createdAt"
>;

export interface ReadyFields {
  servedKey: string;
  thumbnailKey: string | null;
  sizeBytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
  completedAt: Date;
  /** Set with the ready state when downloads serve another object (an image's safe copy). */
  originalToRemove: boolean;
}

/** Attachment metadata (media's own tables). */
export interface AttachmentStore {
  insert(row: NewAttachment): Promise<void>;
  get(attachmentId: string): Promise<AttachmentRow | undefined>;
  getMany(attachmentIds: string[]): Promise<AttachmentRow[]>;
  /** pending -> ready; false when it was not pending any more (another completion won). */
  markReady(attachmentId: string, fields: ReadyFields): Promise<boolean>;
  /** pending -> rejected; false when it was not pending. */
  markRejected(attachmentId: string): Promise<boolean>;
  /** Pending uploads created before `before`, oldest first. */
  stalePending(before: Date, limit: number): Promise<AttachmentRow[]>;
  /** Deletes a row only while it is still pending (a completion in between keeps it). */
  deletePending(attachmentId: string): Promise<boolean>;
  /** Ready attachments whose original is still to be deleted, oldest completion first. */
  originalsToRemove(limit: number): Promise<AttachmentRow[]>;
  /** Clears the flag once the original is deleted; false when it was already clear (another replica). */
  originalRemoved(attachmentId: string): Promise<boolean>;
}
