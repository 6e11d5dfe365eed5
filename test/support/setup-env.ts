import { configureLogger } from '../../src/logger';

// Keep test output readable: only warnings and errors unless LT_TEST_LOG_LEVEL says otherwise.
configureLogger({ level: (process.env.LT_TEST_LOG_LEVEL as 'debug' | 'info' | 'warn' | 'error' | undefined) ?? 'warn' });
