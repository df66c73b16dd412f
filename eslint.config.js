// Lint rules, including the dependency direction of docs/architecture.md:
// shared <- everything; ml <- trainer; ml stays free of fs, electron and IPC.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
);
