import { defineConfig } from "vite";

// base "./": the built app works from any folder; config.json is fetched next to index.html.
export default defineConfig({
  base: "./",
  build: { target: "es2022" },
});
