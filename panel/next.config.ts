import type { NextConfig } from "next";

const config: NextConfig = {
  // The panel is a server: it talks to the query service with the site's token,
  // which therefore never reaches the browser.
  poweredByHeader: false,
  // The browser tests build into their own directory, so that they never
  // replace the build a running `make run` panel is serving.
  distDir: process.env.PANEL_DIST_DIR || ".next",
  // The container image (deploy/docker/panel.Dockerfile) runs the standalone
  // server: the build and only the node_modules it needs. Local scripts keep
  // `next start`, which would warn about a standalone build.
  output: process.env.PANEL_STANDALONE === "1" ? "standalone" : undefined,
  async redirects() {
    return [
      { source: "/", has: [{ type: "query", key: "lang", value: "fa" }], destination: "/fa", permanent: false },
      { source: "/", destination: "/en", permanent: false },
    ];
  },
};

export default config;
