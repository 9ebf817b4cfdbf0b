import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Built into dist/: index.html plus content-hashed files under assets/ that the gateway serves with a
// year-long immutable cache (gateway/static.py). `npm run dev` proxies the API to a local `make run`.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 800 },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
  test: { environment: "node", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
