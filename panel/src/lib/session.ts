// The standalone panel's login: when PANEL_PASSWORD is set, a session is a
// cookie holding its expiry and an HMAC-SHA256 of it. src/proxy.ts checks it
// on every request and the server actions check it again themselves. Web
// Crypto only (crypto.subtle), so the same code runs in the proxy and in the
// server. Nothing is stored on the server: any replica with the same password
// accepts the cookie, and a new password ends every session at once.

export const SESSION_COOKIE = "panel_session";

/**
 * Seven days: an admin who looks at the numbers a few times a week is not asked
 * for the password every time, and a copied cookie still stops working on its
 * own within a week (changing PANEL_PASSWORD ends it at once).
 */
export const SESSION_SECONDS = 7 * 24 * 60 * 60;

/** Whether the panel asks for a password: PANEL_PASSWORD is set and not empty. */
export function passwordRequired(): boolean {
  return Boolean(process.env.PANEL_PASSWORD);
}

const encoder = new TextEncoder();
let cachedKey: { password: string; key: Promise<CryptoKey> } | null = null;

/**
 * The signing key, derived from the password with PBKDF2 (once per process and
 * password): a leaked cookie then makes guessing the password slow, where a
 * key that were the password itself would allow fast offline guessing.
 */
function signingKey(password: string): Promise<CryptoKey> {
  if (cachedKey?.password !== password) {
    const key = crypto.subtle
      .importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "PBKDF2", hash: "SHA-256", salt: encoder.encode("analytics-panel session"), iterations: 200_000 },
          base,
          { name: "HMAC", hash: "SHA-256", length: 256 },
          false,
          ["sign", "verify"],
        ),
      );
    cachedKey = { password, key };
  }
  return cachedKey.key;
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A new session cookie's value, `<expiry in Unix seconds>.<HMAC of that>`. */
export async function createSession(now = Date.now()): Promise<string> {
  const password = process.env.PANEL_PASSWORD;
  if (!password) throw new Error("PANEL_PASSWORD is not set");
  const expires = String(Math.floor(now / 1000) + SESSION_SECONDS);
  const mac = await crypto.subtle.sign("HMAC", await signingKey(password), encoder.encode(expires));
  return `${expires}.${toBase64Url(new Uint8Array(mac))}`;
}

/** Whether a cookie's value is a session signed with the current password and not expired. */
export async function validSession(value: string | undefined, now = Date.now()): Promise<boolean> {
  const password = process.env.PANEL_PASSWORD;
  const parts = value ? /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value) : null;
  if (!password || !parts) return false;
  const expires = Number(parts[1]);
  // Beyond the lifetime is as wrong as past it: a shorter SESSION_SECONDS applies to old cookies too.
  if (expires * 1000 <= now || expires * 1000 > now + SESSION_SECONDS * 1000) return false;
  const mac = fromBase64Url(parts[2]);
  // One spelling per MAC: the last character's spare bits must be zero.
  if (toBase64Url(mac) !== parts[2]) return false;
  // verify() compares the MACs in constant time.
  return crypto.subtle.verify("HMAC", await signingKey(password), mac, encoder.encode(parts[1]));
}

/** True when no password is asked for, or `cookie` is a valid session. */
export async function signedIn(cookie: string | undefined): Promise<boolean> {
  return !passwordRequired() || validSession(cookie);
}

/**
 * Whether `given` is PANEL_PASSWORD, compared in constant time: both are hashed
 * first (equal lengths), then every byte is compared, with no early exit.
 */
export async function passwordMatches(given: string): Promise<boolean> {
  const password = process.env.PANEL_PASSWORD;
  if (!password) return false;
  const [a, b] = await Promise.all(
    [given, password].map(async (text) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)))),
  );
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
