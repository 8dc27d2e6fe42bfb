/** Platform users (off-chain): login, role, organisation, and the wallet entry of their enrolled certificate. */
import { Schema, model, type InferSchemaType, type HydratedDocument } from 'mongoose';
import { ROLES } from '@fund/chaincode/dist/access/roles';

const userSchema = new Schema(
  {
    username: { type: String, required: true, unique: true, trim: true },
    displayName: { type: String, required: true },
    passwordHash: { type: String, required: true },
    role: { type: String, required: true, enum: ROLES },
    orgId: { type: String, required: true, index: true },
    lang: { type: String, enum: ['zh-CN', 'en'] },
    active: { type: Boolean, default: true },
    /** The X.509 identity the ledger's CA issued; the private key is encrypted with the wallet key. */
    wallet: {
      mspId: String,
      enrollmentId: String,
      certificate: String,
      encryptedKey: { type: String, select: false },
    },
    lastLoginAt: Date,
    /** Unread notifications, kept by the notifier and the notification centre so no page has to count them. */
    unread: { type: Number, default: 0 },
  },
  { timestamps: true },
);

export type UserFields = InferSchemaType<typeof userSchema>;
export type UserDoc = HydratedDocument<UserFields>;
export const User = model('User', userSchema);
