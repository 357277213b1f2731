/** Who made a request, as the API server's authenticators tell it (user.Info). */
export interface UserInfo {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}
