// Lint TypeScript sources and tests with typescript-eslint's recommended rules.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'dist-test/**', 'node_modules/**', 'data/**', '.tools/**', 'test/embedded/fixtures/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // fabric-shim's internal modules (handler, contract-spi, logger) have no typings: they are required.
      '@typescript-eslint/no-require-imports': 'off',
      // fabric-shim's internals are untyped; `any` is allowed only where we meet them.
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
);
