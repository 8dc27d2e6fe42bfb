import type { UserDoc } from './models/user';

declare global {
  namespace Express {
    interface Request {
      /** The logged-in user, loaded from the session. */
      user?: UserDoc;
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    userId?: string;
    lang?: 'zh-CN' | 'en';
    flash?: Array<{ kind: 'success' | 'danger' | 'warning' | 'info'; text: string }>;
  }
}
