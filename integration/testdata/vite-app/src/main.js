document.getElementById("version").textContent = "page " + __APP_VERSION__;
document.getElementById("load").addEventListener("click", async () => {
  try {
    const lazy = await import("./lazy.js");
    document.getElementById("lazy").textContent = lazy.describe();
  } catch (err) {
    document.getElementById("lazy").textContent = "failed: " + err.message;
  }
});
