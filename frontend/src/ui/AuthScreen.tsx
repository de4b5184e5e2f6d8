import { useId, useState, type FormEvent } from "react";

import { AuthError, login, register } from "../session";
import { errorText, strings } from "../strings";

export function AuthScreen() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const ids = { name: useId(), email: useId(), password: useId(), error: useId(), hint: useId() };

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const name = String(data.get("name") ?? "").trim();
    const password = String(data.get("password") ?? "");
    setBusy(true);
    setError(null);
    setProblems([]);
    try {
      if (mode === "register") await register(name, String(data.get("email") ?? "").trim(), password);
      await login(name, password);
    } catch (e) {
      const code = e instanceof AuthError ? e.code : undefined;
      setError(errorText(code));
      const details = e instanceof AuthError ? (e.details as { problems?: { message: string }[] } | undefined) : undefined;
      setProblems(details?.problems?.map((p) => p.message) ?? []);
      setBusy(false);
    }
  }

  const title = mode === "login" ? strings.signIn : strings.register;
  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-describedby={error ? ids.error : undefined}>
        <h1 className="brand">{strings.appName}</h1>
        <h2>{title}</h2>
        <label htmlFor={ids.name}>{mode === "login" ? strings.loginName : strings.username}</label>
        <input id={ids.name} name="name" autoComplete="username" required autoFocus />
        {mode === "register" && (
          <>
            <label htmlFor={ids.email}>{strings.email}</label>
            <input id={ids.email} name="email" type="email" autoComplete="email" required />
          </>
        )}
        <label htmlFor={ids.password}>{strings.password}</label>
        <input
          id={ids.password}
          name="password"
          type="password"
          autoComplete={mode === "login" ? "current-password" : "new-password"}
          required
          minLength={mode === "register" ? 10 : undefined}
          aria-describedby={mode === "register" ? ids.hint : undefined}
        />
        {mode === "register" && (
          <p id={ids.hint} className="hint">
            {strings.passwordHint}
          </p>
        )}
        {error && (
          <div id={ids.error} role="alert" className="form-error">
            <p>{error}</p>
            {problems.length > 0 && (
              <ul>
                {problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            )}
          </div>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? strings.working : title}
        </button>
        <button
          type="button"
          className="link"
          onClick={() => {
            setMode(mode === "login" ? "register" : "login");
            setError(null);
            setProblems([]);
          }}
        >
          {mode === "login" ? strings.needAccount : strings.haveAccount}
        </button>
      </form>
    </main>
  );
}
