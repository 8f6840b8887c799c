// Type-aware lint: no-floating-promises and no-misused-promises catch real bugs in socket and
// long-poll code, which is why we pay for the type information.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'agent/watch/**'] },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    // In Node 20's V8 an object literal with a spread followed by more properties or another
    // spread (`{ ...a, b }`, `{ ...a, ...b }`) takes a slow path: ~8 µs for a PDU-sized object
    // against ~0.1 µs written out (docs/auth-performance.md). It cost parsePdu 30× and the sealed
    // fan-out 40% before it was found, so the code that serves clients spells objects out, or
    // uses Object.assign onto a fresh literal. A lone spread (`{ ...a }`) is a fast copy. Start-up
    // and configuration code (service/*.ts, ctl/, winbind/, auth/setup.ts) may spread as it likes.
    files: ['service/rpc/**/*.ts', 'service/swn/**/*.ts', 'service/epm/**/*.ts', 'service/bytes/**/*.ts', 'service/auth/{ntlm,spnego,krb5,crypto,accounts}/**/*.ts', 'store/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ObjectExpression > SpreadElement ~ Property', message: 'an object spread followed by properties is a slow path in V8 11: write the properties out, or Object.assign({...}, a)' },
        { selector: 'ObjectExpression > SpreadElement ~ SpreadElement', message: 'two spreads in one object literal are a slow path in V8 11: Object.assign({}, a, b)' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
