// The portals the browser tests run against: the current release and the legacy 1.53.
import * as path from "node:path";

export const ADMIN_EMAIL = "admin@example.com";
export const ADMIN_PASSWORD = "a long admin password for e2e";

const repo = path.resolve(__dirname, "..", "..");

function server(port: number, release: string) {
  const db = path.join(repo, "target", "e2e", `portal-${release}.db`);
  return {
    url: `http://127.0.0.1:${port}`,
    release,
    db,
    env: {
      PORTAL_ADDR: `127.0.0.1:${port}`,
      PORTAL_DATABASE_URL: `sqlite://${db}`,
      PORTAL_RELEASE: release,
      PORTAL_ADMIN_EMAIL: ADMIN_EMAIL,
      PORTAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
      RUST_LOG: "warn",
    },
  };
}

export const servers = {
  current: server(3154, "1.54"),
  legacy: server(3153, "1.53"),
};
