// Lint rules, including the dependency direction of docs/architecture.md:
// shared <- everything; ml <- trainer; ml stays free of fs, electron and IPC.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';
import vueParser from 'vue-eslint-parser';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scratch/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // tfjs ops return Tensor<Rank>; `as tf.Tensor4D` on a call reads better in tests than generic arguments.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unnecessary-type-assertion': 'off' },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['main/ml/**/*.ts', 'shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'path', 'child_process', 'electron', 'ws'], message: 'main/ml and shared are pure: no Node, Electron or IPC imports.' },
          { group: ['**/trainer/**', '**/core/**', '**/cli/**', '**/server/**', '**/electron/**'], message: 'Dependency direction: ml and shared import nothing above them.' },
        ],
      }],
    },
  },
  {
    // The compute page (issue 8) runs in a browser context (the desktop app's hidden renderer):
    // the pure ml code and shared/ only.
    files: ['main/compute-page/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'path', 'child_process', 'electron', 'ws'], message: 'The compute page runs in a browser: no Node or Electron imports.' },
          { group: ['**/trainer/**', '**/core/**', '**/cli/**', '**/server/**', '**/electron/**'], message: 'The compute page imports only main/ml and shared/.' },
        ],
      }],
    },
  },
  // Renderer (Vue 3 + Pinia, browser): its own tsconfig (DOM, Bundler resolution); imports only
  // shared/ and its own files.
  ...pluginVue.configs['flat/recommended'].map((config) => ({ ...config, files: ['renderer/**/*.vue'] })),
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.vue'],
    languageOptions: {
      parser: vueParser,
      parserOptions: {
        parser: tseslint.parser,
        projectService: false,
        project: ['./renderer/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: ['.vue'],
        sourceType: 'module',
      },
    },
    rules: {
      // TypeScript (DOM lib) already checks identifiers.
      'no-undef': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/html-indent': 'off',
      'vue/first-attribute-linebreak': 'off',
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'path', 'child_process', 'electron', 'ws'], message: 'The renderer runs in a browser: no Node or Electron imports.' },
          { group: ['**/main/**'], message: 'The renderer imports only shared/ and its own files.' },
        ],
      }],
    },
  },
);
