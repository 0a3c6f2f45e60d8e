-- Groups and their members. The same file runs on PGlite and PostgreSQL.
CREATE TABLE groups (
  group_id uuid PRIMARY KEY,
  name text NOT NULL,
  owner_id text NOT NULL,
  created_at timestamptz NOT NULL
);

-- One row per (group, user): the primary key is what keeps concurrent adds from duplicating a
-- member. The username is a copy taken when the member joined (auth has no rename), so reading a
-- group needs no call to auth.
CREATE TABLE group_members (
  group_id uuid NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
  user_id text NOT NULL,
  username text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  joined_at timestamptz NOT NULL,
  PRIMARY KEY (group_id, user_id)
);

-- ListMyGroups: the groups of one user.
CREATE INDEX group_members_by_user ON group_members (user_id, group_id);
