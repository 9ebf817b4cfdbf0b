// Chat mode: a conversation with a workflow, one thread per conversation. Each message is a run with the
// thread's id (so memory nodes see the earlier turns); the reply streams in as the run's tokens.
import { FormEvent, useEffect, useState } from "react";
import { call } from "./api";
import type { RunHandle } from "./RunPanel";
import { useLoad } from "./ui";

interface Thread { id: string; metadata?: { workflow_id?: string; title?: string }; message_count: number }
interface Message { role: string; content: string; execution_id: string }

async function readMessages(threadId: string, turnOf?: string): Promise<Message[]> {
  // The run's turn is added to the thread as the run completes, a moment after its last event may arrive:
  // wait for it briefly rather than show the conversation without it.
  for (let attempt = 0; ; attempt++) {
    const { messages = [] } = await call<{ messages?: Message[] }>("GET", `/threads/${threadId}/messages?page_size=200`);
    if (!turnOf || attempt >= 20 || messages.some((m) => m.execution_id === turnOf)) return messages;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function ChatPanel({ workflowId, beforeRun, runner }: { workflowId: string; beforeRun: () => Promise<boolean>; runner: RunHandle }) {
  const [threadId, setThreadId] = useState<string>();
  const [text, setText] = useState("");
  const [pending, setPending] = useState<string>();
  const [threads, , reloadThreads] = useLoad(() => call<{ threads?: Thread[] }>("GET", "/threads?page_size=100"), []);
  const [messages, setMessages] = useState<Message[]>([]);
  useEffect(() => {
    setMessages([]);
    if (threadId) readMessages(threadId).then(setMessages, runner.setError);
  }, [threadId]); // eslint-disable-line react-hooks/exhaustive-deps
  const mine = (threads?.threads ?? []).filter((t) => t.metadata?.workflow_id === workflowId);

  async function send(e: FormEvent) {
    e.preventDefault();
    const message = text.trim();
    if (!message || !(await beforeRun())) return;
    let id = threadId;
    if (!id) {
      try {
        id = (await call<Thread>("POST", "/threads", { metadata: { workflow_id: workflowId, title: message.slice(0, 60) } })).id;
      } catch (err) {
        runner.setError(err);
        return;
      }
      setThreadId(id);
    }
    setText("");
    setPending(message);
    const executionId = await runner.start({ workflow_id: workflowId, input: message, thread_id: id });
    try {
      setMessages(await readMessages(id, executionId));
    } catch (err) {
      runner.setError(err);
    }
    setPending(undefined);
    reloadThreads();
  }

  // The reply while it streams: every token of the run so far.
  const streaming = pending !== undefined ? Object.values(runner.run.tokens).join("") : "";
  return (
    <div className="chat">
      <div className="row">
        <select aria-label="Conversation" value={threadId ?? ""} onChange={(e) => setThreadId(e.target.value || undefined)}>
          <option value="">New conversation</option>
          {mine.map((t) => <option key={t.id} value={t.id}>{t.metadata?.title || t.id} ({t.message_count})</option>)}
        </select>
      </div>
      <ol className="messages" aria-label="Messages" aria-live="polite">
        {messages.map((m, i) => <li key={i} className={`message ${m.role}`}>{m.content}</li>)}
        {pending !== undefined && <li className="message user">{pending}</li>}
        {pending !== undefined && <li className="message assistant streaming">{streaming || "…"}</li>}
      </ol>
      <form onSubmit={(e) => void send(e)} className="row">
        <input aria-label="Message" value={text} onChange={(e) => setText(e.target.value)} placeholder="Say something" />
        <button className="primary" disabled={pending !== undefined}>Send</button>
      </form>
    </div>
  );
}
