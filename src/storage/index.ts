// Blob storage for the app: picks the driver from config.STORAGE (resolved from Quay's
// DISTRIBUTED_STORAGE_CONFIG or the simple STORAGE_DRIVER/S3_* keys by src/storage/settings.ts) and
// decorates the app with it as `app.storage`, closed when the app closes.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { BlobDriver } from './driver.js';
import { FilesystemDriver } from './filesystem.js';
import { S3Driver } from './s3.js';
import { describeStorage, type StorageSettings } from './settings.js';

export * from './driver.js';
export { blobKey, uploadPrefix } from './paths.js';
export type { StorageSettings } from './settings.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Blob bytes (src/storage/driver.ts); metadata stays in the database. */
    storage: BlobDriver;
  }
}

/**
 * Builds the driver and checks that it can work: an S3 bucket must exist and accept the
 * credentials (so a wrong bucket or key fails at startup, not on the first push).
 */
export async function createStorage(settings: StorageSettings): Promise<BlobDriver> {
  if (settings.driver === 'filesystem') {
    const driver = new FilesystemDriver(settings.root);
    await driver.sweepTmp();
    return driver;
  }
  const { driver: _, ...opts } = settings;
  const driver = new S3Driver(opts);
  try {
    await driver.checkBucket();
  } catch (err) {
    await driver.close();
    throw err;
  }
  return driver;
}

export const storagePlugin = fp(
  async (app: FastifyInstance) => {
    const driver = await createStorage(app.config.STORAGE);
    app.decorate('storage', driver);
    app.addHook('onClose', () => driver.close());
    app.log.info(`blob storage: ${describeStorage(app.config.STORAGE)}`);
  },
  { name: 'storage', fastify: '5.x' },
);
