import { fileURLToPath } from "node:url";
import type { SqlDatabase, SqlExecutor } from "../kit/sql/database.js";
import { migrate } from "../kit/sql/migrations.js";
import { type GroupView, isGroupId, type Member, type Role } from "./membership.js";
import type { GroupStore, MembershipCheck, NewGroup } from "./store.js";

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

interface GroupMemberRow {
  group_id: string;
  name: string;
  owner_id: string;
  created_at: Date;
  user_id: string;
  username: string;
  role: Role;
  joined_at: Date;
}

// One statement per read, so a group and its members come from one snapshot.
const GROUP_WITH_MEMBERS = `
  SELECT g.group_id, g.name, g.owner_id, g.created_at, m.user_id, m.username, m.role, m.joined_at
  FROM groups g JOIN group_members m ON m.group_id = g.group_id`;
const IN_ORDER = "ORDER BY g.created_at, g.group_id, m.joined_at, m.user_id";

/** Groups in SQL (PGlite on embedded defaults, PostgreSQL in production); plain SQL, $n params. */
export class SqlGroupStore implements GroupStore {
  private constructor(private readonly db: SqlDatabase) {}

  /** Brings the schema up to date, then opens the store. */
  static async open(db: SqlDatabase): Promise<SqlGroupStore> {
    await migrate(db, MIGRATIONS);
    return new SqlGroupStore(db);
  }

  async create(group: NewGroup): Promise<GroupView> {
    return this.db.transaction(async (tx) => {
      await tx.query("INSERT INTO groups (group_id, name, owner_id, created_at) VALUES ($1, $2, $3, $4)", [
        group.groupId,
        group.name,
        group.ownerId,
        group.createdAt,
      ]);
      const params: unknown[] = [group.groupId, group.createdAt];
      const rows = group.members.map((member) => {
        params.push(member.userId, member.username, member.role);
        const n = params.length;
        return `($1, $${n - 2}, $${n - 1}, $${n}, $2)`;
      });
      await tx.query(
        `INSERT INTO group_members (group_id, user_id, username, role, joined_at) VALUES ${rows.join(", ")}`,
        params,
      );
      return (await loadGroup(tx, group.groupId)) as GroupView;
    });
  }

  async get(groupId: string): Promise<GroupView | undefined> {
    if (!isGroupId(groupId)) return undefined;
    return loadGroup(this.db, groupId);
  }

  async listForMember(userId: string): Promise<GroupView[]> {
    const rows = await this.db.query<GroupMemberRow>(
      `${GROUP_WITH_MEMBERS}
       WHERE g.group_id IN (SELECT group_id FROM group_members WHERE user_id = $1::text) ${IN_ORDER}`,
      [userId],
    );
    return toGroups(rows);
  }

  async change(
    groupId: string,
    people: { actorId: string; targetId: string | undefined },
    decide: Parameters<GroupStore["change"]>[2],
    at: Date,
  ): ReturnType<GroupStore["change"]> {
    if (!isGroupId(groupId)) return undefined;
    return this.db.transaction(async (tx) => {
      // The row lock serialises every membership change of this group on PostgreSQL, so the
      // member count and roles read below stay true until this transaction commits.
      const locked = await tx.query("SELECT group_id FROM groups WHERE group_id = $1::uuid FOR UPDATE", [
        groupId,
      ]);
      if (locked.length === 0) return undefined;
      const [facts] = await tx.query<{
        member_count: number;
        actor_role: Role | null;
        target_role: Role | null;
      }>(
        `SELECT
           (SELECT count(*) FROM group_members WHERE group_id = $1::uuid)::int AS member_count,
           (SELECT role FROM group_members WHERE group_id = $1::uuid AND user_id = $2::text) AS actor_role,
           (SELECT role FROM group_members WHERE group_id = $1::uuid AND user_id = $3::text) AS target_role`,
        [groupId, people.actorId, people.targetId ?? null],
      );
      const change = decide({
        memberCount: facts?.member_count ?? 0,
        actorRole: facts?.actor_role ?? undefined,
        targetRole: facts?.target_role ?? undefined,
      });
      switch (change.kind) {
        case "add":
          await tx.query(
            "INSERT INTO group_members (group_id, user_id, username, role, joined_at) VALUES ($1, $2, $3, $4, $5)",
            [groupId, change.member.userId, change.member.username, change.member.role, at],
          );
          break;
        case "remove":
          await tx.query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2", [
            groupId,
            change.userId,
          ]);
          break;
        case "set_role":
          await tx.query("UPDATE group_members SET role = $3 WHERE group_id = $1 AND user_id = $2", [
            groupId,
            change.userId,
            change.role,
          ]);
          break;
        case "none":
          break;
      }
      return { group: (await loadGroup(tx, groupId)) as GroupView, change };
    });
  }

  async rename(
    groupId: string,
    actorId: string,
    decide: Parameters<GroupStore["rename"]>[2],
    name: string,
  ): ReturnType<GroupStore["rename"]> {
    if (!isGroupId(groupId)) return undefined;
    return this.db.transaction(async (tx) => {
      const [locked] = await tx.query<{ name: string; actor_role: Role | null }>(
        `SELECT name,
           (SELECT role FROM group_members WHERE group_id = $1::uuid AND user_id = $2::text) AS actor_role
         FROM groups WHERE group_id = $1::uuid FOR UPDATE`,
        [groupId, actorId],
      );
      if (!locked) return undefined;
      const renamed = decide({ actorRole: locked.actor_role ?? undefined, name: locked.name });
      if (renamed) await tx.query("UPDATE groups SET name = $2 WHERE group_id = $1::uuid", [groupId, name]);
      return { group: (await loadGroup(tx, groupId)) as GroupView, renamed };
    });
  }

  async listMembers(groupId: string): Promise<{ userId: string; joinedAt: Date }[] | undefined> {
    if (!isGroupId(groupId)) return undefined;
    const rows = await this.db.query<{ user_id: string | null; joined_at: Date | null }>(
      `SELECT m.user_id, m.joined_at FROM groups g
         LEFT JOIN group_members m ON m.group_id = g.group_id
       WHERE g.group_id = $1::uuid ORDER BY m.joined_at, m.user_id`,
      [groupId],
    );
    if (rows.length === 0) return undefined;
    return rows
      .filter((row) => row.user_id !== null)
      .map((row) => ({ userId: row.user_id as string, joinedAt: row.joined_at as Date }));
  }

  async listCoMembers(userId: string, maxGroupMembers = 0): Promise<string[]> {
    const rows = await this.db.query<{ user_id: string }>(
      `SELECT DISTINCT other.user_id FROM group_members mine
         JOIN group_members other ON other.group_id = mine.group_id
       WHERE mine.user_id = $1::text AND other.user_id <> $1::text
         AND ($2::int = 0
              OR (SELECT count(*) FROM group_members c WHERE c.group_id = mine.group_id) <= $2::int)`,
      [userId, maxGroupMembers],
    );
    return rows.map((row) => row.user_id);
  }

  async checkMembership(groupId: string, userId: string): Promise<MembershipCheck> {
    if (!isGroupId(groupId)) return { groupExists: false, isMember: false, memberIds: [] };
    // A member (the common case) is answered by this one query on the primary key.
    const members = await this.db.query<{ user_id: string }>(
      `SELECT user_id FROM group_members WHERE group_id = $1::uuid
         AND EXISTS (SELECT 1 FROM group_members WHERE group_id = $1::uuid AND user_id = $2::text)`,
      [groupId, userId],
    );
    if (members.length > 0) {
      return { groupExists: true, isMember: true, memberIds: members.map((row) => row.user_id) };
    }
    const group = await this.db.query("SELECT 1 FROM groups WHERE group_id = $1::uuid", [groupId]);
    return { groupExists: group.length > 0, isMember: false, memberIds: [] };
  }
}

async function loadGroup(db: SqlExecutor, groupId: string): Promise<GroupView | undefined> {
  const rows = await db.query<GroupMemberRow>(
    `${GROUP_WITH_MEMBERS} WHERE g.group_id = $1::uuid ${IN_ORDER}`,
    [groupId],
  );
  return toGroups(rows)[0];
}

function toGroups(rows: GroupMemberRow[]): GroupView[] {
  const groups = new Map<string, GroupView>();
  for (const row of rows) {
    let group = groups.get(row.group_id);
    if (!group) {
      group = {
        groupId: row.group_id,
        name: row.name,
        ownerId: row.owner_id,
        createdAt: row.created_at,
        members: [],
      };
      groups.set(row.group_id, group);
    }
    const member: Member = {
      userId: row.user_id,
      username: row.username,
      role: row.role,
      joinedAt: row.joined_at,
    };
    group.members.push(member);
  }
  return [...groups.values()];
}
