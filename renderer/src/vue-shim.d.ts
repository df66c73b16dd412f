// For tools that see .ts files without Vue's language service (eslint); vue-tsc resolves the real files.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent;
  export default component;
}
