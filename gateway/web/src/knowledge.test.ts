// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { bytes, collectionBody, EMPTY_COLLECTION, isFinal, parseMetadata, shortStatus } from "./knowledge";

describe("knowledge bases", () => {
  it("leaves blank settings to the service's defaults and sends numbers as numbers", () => {
    expect(collectionBody({ ...EMPTY_COLLECTION, name: " kb " })).toEqual({
      name: "kb", description: undefined,
      embedding: { provider: "builtin", model: undefined, dimensions: undefined },
      chunking: { splitter: "recursive", chunk_size: undefined, chunk_overlap: undefined },
    });
    const body = collectionBody({ ...EMPTY_COLLECTION, name: "kb", dimensions: "256", chunk_size: "400", chunk_overlap: "0" });
    expect(body.embedding.dimensions).toBe(256);
    expect(body.chunking).toEqual({ splitter: "recursive", chunk_size: 400, chunk_overlap: 0 });
  });

  it("polls until a document is completed or failed", () => {
    expect(shortStatus(undefined)).toBe("pending");
    expect(shortStatus("DOCUMENT_STATUS_PROCESSING")).toBe("processing");
    expect(["DOCUMENT_STATUS_PENDING", "DOCUMENT_STATUS_PROCESSING", undefined].map(isFinal)).toEqual([false, false, false]);
    expect(["DOCUMENT_STATUS_COMPLETED", "DOCUMENT_STATUS_FAILED"].map(isFinal)).toEqual([true, true]);
  });

  it("accepts only a JSON object as metadata, with the violation on the field", () => {
    expect(parseMetadata("  ")).toBeUndefined();
    expect(parseMetadata('{"team": "hr"}')).toEqual({ team: "hr" });
    for (const bad of ["[1]", "3", "{nope"]) {
      const error = (() => { try { parseMetadata(bad); } catch (e) { return e; } })();
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).fieldError("metadata")).toContain("JSON object");
    }
    expect(() => parseMetadata("[]", "filter")).toThrow("filter must be a JSON object");
  });

  it("formats sizes", () => {
    expect([bytes("12"), bytes(2048), bytes(3 * 1024 * 1024)]).toEqual(["12 B", "2.0 KiB", "3.0 MiB"]);
  });
});
