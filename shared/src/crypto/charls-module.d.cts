// The CharLS WebAssembly glue ships no types: an Emscripten factory taking module options.
declare module '@cornerstonejs/codec-charls/wasmjs' {
  const factory: (options: { wasmBinary?: Uint8Array }) => Promise<unknown>;
  export default factory;
}
