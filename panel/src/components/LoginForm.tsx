"use client";

import { useActionState } from "react";

import { type LoginState, login } from "@/app/login-actions";
import type { Lang } from "@/lib/i18n";

/**
 * The password form of the login page. The server action answers with an
 * error to show or redirects; without JavaScript it is a plain form POST.
 */
export function LoginForm(props: {
  lang: Lang;
  /** The page asked for before the login (the action keeps only local paths). */
  next: string;
  labels: { title: string; password: string; submit: string };
}) {
  const [state, action, pending] = useActionState<LoginState, FormData>(login, { error: null });
  return (
    <form action={action} className="panel" data-testid="login" style={{ display: "grid", gap: 12 }}>
      <h2>{props.labels.title}</h2>
      <input type="hidden" name="lang" value={props.lang} />
      <input type="hidden" name="next" value={props.next} />
      <label style={{ display: "grid", gap: 4 }}>
        {props.labels.password}
        <input
          type="password"
          name="password"
          autoComplete="current-password"
          required
          autoFocus
          dir="ltr"
          data-testid="login-password"
          style={{ font: "inherit", padding: "8px 10px" }}
        />
      </label>
      <button type="submit" disabled={pending} data-testid="login-submit">
        {props.labels.submit}
      </button>
      {state.error && !pending && (
        <p className="error" role="alert" data-testid="login-error" style={{ margin: 0 }}>
          {state.error}
        </p>
      )}
    </form>
  );
}
