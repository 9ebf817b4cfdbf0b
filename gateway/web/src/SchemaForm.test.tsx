// @vitest-environment happy-dom
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SchemaForm } from "./SchemaForm";
import { JsonSchema } from "./types";

const schema: JsonSchema = {
  type: "object",
  required: ["model"],
  properties: {
    model: { type: "string", description: "offline-echo, or a provider's model name" },
    system_prompt: { type: "string" },
    strategy: { type: "string", enum: ["stuff", "map_reduce"] },
    max_steps: { type: "integer", minimum: 1, maximum: 50 },
    streaming: { type: "boolean" },
    tools: { type: "array", items: { type: "string" } },
    credential: { type: "object", properties: { name: { type: "string" }, service_type: { type: "string" } } },
  },
};

function render(value: Record<string, unknown>, problems: string[] = []) {
  const html = renderToStaticMarkup(
    <SchemaForm nodeId="n1" schema={schema} value={value} onChange={() => {}} problems={problems}
      credentials={[{ name: "main", service_type: "openai" }, { name: "other", service_type: "anthropic" }]} credentialType="openai" />);
  return new DOMParser().parseFromString(html, "text/html");
}

describe("SchemaForm", () => {
  it("renders one labelled control per property, by type", () => {
    const doc = render({ tools: ["calculator"], max_steps: 8 });
    const control = (key: string) => doc.getElementById(`p-n1-${key}`)!;
    expect(doc.querySelector('label[for="p-n1-model"]')!.textContent).toBe("model *");
    expect(control("model").tagName).toBe("INPUT");
    expect(control("system_prompt").tagName).toBe("TEXTAREA");
    expect([...control("strategy").querySelectorAll("option")].map((o) => o.textContent)).toEqual(["(default)", "stuff", "map_reduce"]);
    expect(control("max_steps").getAttribute("type")).toBe("number");
    expect(control("max_steps").getAttribute("max")).toBe("50");
    expect(control("streaming").getAttribute("type")).toBe("checkbox");
    expect(JSON.parse(control("tools").textContent!)).toEqual(["calculator"]);
  });

  it("offers the credentials of the node's service and keeps an unknown reference visible", () => {
    const doc = render({ credential: { service_type: "openai", name: "default" } });
    const options = [...doc.getElementById("p-n1-credential")!.querySelectorAll("option")].map((o) => o.textContent);
    expect(options).toEqual(["(none)", "openai/default (not in this organization)", "main (openai)"]);
  });

  it("puts a problem under its field", () => {
    const doc = render({}, ["model: is required for a chat_model node"]);
    const field = doc.getElementById("p-n1-model")!.closest(".field")!;
    expect(field.classList.contains("invalid")).toBe(true);
    expect(field.querySelector(".field-error")!.textContent).toBe("is required for a chat_model node");
  });
});
