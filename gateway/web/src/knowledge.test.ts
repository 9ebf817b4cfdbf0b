// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { bytes, collectionBody, EMPTY_COLLECTION, isFinal, onCredentialField, parseMetadata, shortStatus } from "./knowledge";

describe("knowledge bases", () => {
  it("leaves blank settings to the service's defaults and sends numbers as numbers", () => {
    expect(collectionBody({ ...EMPTY_COLLECTION, name: " kb " })).toEqual({
      name: "kb", description: undefined,
      embedding: { provider: "builtin", dimensions: undefined },
      chunking: { splitter: "recursive", chunk_size: undefined, chunk_overlap: undefined },
    });
    const body = collectionBody({ ...EMPTY_COLLECTION, name: "kb", dimensions: "256", chunk_size: "400", chunk_overlap: "0" });
    expect(body.embedding.dimensions).toBe(256);
    expect(body.chunking).toEqual({ splitter: "recursive", chunk_size: 400, chunk_overlap: 0 });
  });

  it("sends only the chosen provider's embedding fields", () => {
    const typed = { ...EMPTY_COLLECTION, name: "kb", model: " text-embedding-3-small ", dimensions: "64",
      base_url: " https://llm.example.com/v1 ", credential_id: "c-1" };
    expect(collectionBody({ ...typed, provider: "openai" }).embedding).toEqual({
      provider: "openai", model: "text-embedding-3-small", dimensions: 64, base_url: "https://llm.example.com/v1", credential_id: "c-1",
    });
    // Blank endpoint and no credential: left out, the server's own apply.
    expect(collectionBody({ ...typed, provider: "openai", base_url: "  ", credential_id: "" }).embedding).toEqual({
      provider: "openai", model: "text-embedding-3-small", dimensions: 64, base_url: undefined, credential_id: undefined,
    });
    // Switching provider keeps what was typed in the form, but another provider's fields are not sent.
    expect(collectionBody({ ...typed, provider: "local", model: "all-MiniLM-L6-v2", dimensions: "384" }).embedding).toEqual({
      provider: "local", model: "all-MiniLM-L6-v2", dimensions: 384,
    });
    expect(collectionBody({ ...typed, provider: "builtin" }).embedding).toEqual({ provider: "builtin", dimensions: 64 });
  });

  it("puts a credential the API cannot find under the credential select", () => {
    const missing = new ApiError(404, "NOT_FOUND", "credential 'c-1' not found");
    const shown = onCredentialField(missing) as ApiError;
    expect(shown.message).toBe(missing.message);
    expect(shown.fieldError("credential_id")).toContain("choose another credential");
    // Anything else is left as it is.
    const other = new ApiError(404, "NOT_FOUND", "collection 'x' not found");
    const invalid = new ApiError(400, "INVALID_ARGUMENT", "bad", [{ field_violations: [{ field: "collection.embedding.base_url", description: "no" }] }]);
    expect([onCredentialField(other), onCredentialField(invalid), onCredentialField(undefined)]).toEqual([other, invalid, undefined]);
    expect((onCredentialField(invalid) as ApiError).fieldError("base_url")).toBe("no");
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
