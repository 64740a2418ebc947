import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  { ignores: ['dist/', '.prof/', 'coverage/', '.tap/', 'node_modules/', 'public/vendor/', 'bench/peers/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error'
    }
  },
  {
    files: ['public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } }
  }
)
