export function describe() {
  return "lazy chunk of " + __APP_VERSION__;
}
