import { FormEvent, useState } from "react";
import { signIn, signUp } from "./api";
import { ErrorBanner, Field } from "./ui";

export function AuthPage() {
  const [mode, setMode] = useState<"signin" | "signup">("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (mode === "signin") await signIn(email, password);
      else await signUp(email, password, name);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <form onSubmit={submit} className="card" aria-labelledby="auth-title">
        <h1 id="auth-title">{mode === "signin" ? "Sign in" : "Create your account"}</h1>
        <p className="muted">Agentic Platform: build, run and watch AI workflows.</p>
        <ErrorBanner error={error} shownFields={["email", "password", "display_name"]} />
        {mode === "signup" && (
          <Field label="Name" name="display_name" error={error}>
            <input id="f-display_name" value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />
          </Field>
        )}
        <Field label="Email" name="email" error={error}>
          <input id="f-email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" required />
        </Field>
        <Field label="Password" name="password" error={error} hint={mode === "signup" ? "At least 10 characters." : undefined}>
          <input id="f-password" type="password" value={password} onChange={(e) => setPassword(e.target.value)}
            autoComplete={mode === "signin" ? "current-password" : "new-password"} required />
        </Field>
        <button type="submit" className="primary" disabled={busy}>{mode === "signin" ? "Sign in" : "Sign up"}</button>
        <p>
          {mode === "signin" ? "New here? " : "Have an account? "}
          <button type="button" className="link" onClick={() => { setMode(mode === "signin" ? "signup" : "signin"); setError(undefined); }}>
            {mode === "signin" ? "Create an account" : "Sign in"}
          </button>
        </p>
      </form>
    </main>
  );
}
