import type {
  GetUsersRequest,
  GetUsersResponse,
  ResolveUsernamesRequest,
  ResolveUsernamesResponse,
} from "../gen/grpc/parley/internal/v1/directory.js";
import type {
  GetJwksResponse,
  LoginRequest,
  LoginResponse,
  LogoutRequest,
  LogoutResponse,
  RefreshRequest,
  RefreshResponse,
  RegisterRequest,
  RegisterResponse,
} from "../gen/grpc/parley/v1/auth.js";
import type { CallContext } from "../kit/grpc/server.js";
import type { Accounts } from "./accounts.js";
import type { Sessions } from "./sessions.js";
import type { SigningKeys } from "./signing-keys.js";

/** parley.v1.AuthService: every method is public (they are how a caller gets a token). */
export function authHandlers(accounts: Accounts, sessions: Sessions, keys: SigningKeys) {
  return {
    async register(request: RegisterRequest): Promise<RegisterResponse> {
      return { user: await accounts.register(request.username, request.password) };
    },
    async login(request: LoginRequest, ctx: CallContext): Promise<LoginResponse> {
      return sessions.login(request.username, request.password, ctx.clientAddress);
    },
    async refresh(request: RefreshRequest): Promise<RefreshResponse> {
      return sessions.refresh(request.refreshToken);
    },
    async logout(request: LogoutRequest): Promise<LogoutResponse> {
      await sessions.logout(request.refreshToken);
      return {};
    },
    async getJwks(): Promise<GetJwksResponse> {
      return { keys: await keys.published() };
    },
  };
}

/** parley.internal.v1.UserDirectoryService: usernames to ids and back, for other services. */
export function directoryHandlers(accounts: Accounts) {
  return {
    async resolveUsernames(request: ResolveUsernamesRequest): Promise<ResolveUsernamesResponse> {
      return { users: await accounts.resolveUsernames(request.usernames) };
    },
    async getUsers(request: GetUsersRequest): Promise<GetUsersResponse> {
      return { users: await accounts.usersByIds(request.userIds) };
    },
  };
}
