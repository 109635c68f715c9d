import { logout } from "@/app/login-actions";
import { type Lang, texts } from "@/lib/i18n";

/**
 * Sign out of the standalone panel: a plain form posting to a server action,
 * so it works without JavaScript. Render it only when `passwordRequired()`
 * (src/lib/session.ts): without a password there is no session to end.
 */
export function LogoutButton({ lang }: { lang: Lang }) {
  return (
    <form action={logout} data-testid="logout">
      <input type="hidden" name="lang" value={lang} />
      <button type="submit">{texts(lang).login.logout}</button>
    </form>
  );
}
