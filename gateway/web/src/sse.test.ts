import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses events split anywhere across chunks, skipping comments", () => {
    const text = ": ping\r\n\r\nid: 1\r\nevent: token\r\ndata: {\"text\": \"a\"}\r\n\r\nid: 2\nevent: run_completed\ndata: x\ndata: y\n\n";
    for (let cut = 0; cut < text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.feed(text.slice(0, cut)), ...parser.feed(text.slice(cut))];
      expect(events).toEqual([
        { id: "1", event: "token", data: "{\"text\": \"a\"}" },
        { id: "2", event: "run_completed", data: "x\ny" },
      ]);
    }
  });

  it("keeps the last id for events without one and defaults the type", () => {
    const events = new SseParser().feed("id: 7\ndata: a\n\ndata: b\n\n");
    expect(events).toEqual([
      { id: "7", event: "message", data: "a" },
      { id: "7", event: "message", data: "b" },
    ]);
  });
});
