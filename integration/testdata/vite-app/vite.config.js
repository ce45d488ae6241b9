// The version is baked in at build time, so two builds differ in content
// and so in their hashed file names.
export default {
  define: { __APP_VERSION__: JSON.stringify(process.env.APP_VERSION || "dev") },
  build: { emptyOutDir: true },
};
