import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cloudStackConfigFromEnv } from '../../src/cloudstack/config.js';
import { CloudStackConfigError } from '../../src/cloudstack/errors.js';

const ENV = {
  CLOUDSTACK_API_URL: 'https://cloud.example.com/client/api',
  CLOUDSTACK_API_KEY: 'env-key',
  CLOUDSTACK_SECRET_KEY: 'env-secret',
};

describe('CloudStack settings from environment and config file', () => {
  test('reads the three variables and fills the defaults', () => {
    assert.deepEqual(cloudStackConfigFromEnv(ENV), {
      url: 'https://cloud.example.com/client/api',
      apiKey: 'env-key',
      secretKey: 'env-secret',
      verifyTls: true,
      timeoutMs: 30_000,
      retries: 3,
      pageSize: 500,
    });
  });

  test('lets the environment override the config file, and uses the file for what the environment lacks', () => {
    const config = cloudStackConfigFromEnv(
      { CLOUDSTACK_API_KEY: 'env-key', CLOUDSTACK_SECRET_KEY: '  ' },
      {
        url: 'http://file.example/client/api',
        apiKey: 'file-key',
        secretKey: 'file-secret',
        retries: 1,
        verifyTls: false,
      },
    );
    assert.equal(config.apiKey, 'env-key');
    assert.equal(config.secretKey, 'file-secret', 'a blank variable counts as unset');
    assert.equal(config.url, 'http://file.example/client/api');
    assert.equal(config.retries, 1);
    assert.equal(config.verifyTls, false);
  });

  test('names exactly the missing variables and config keys', () => {
    try {
      cloudStackConfigFromEnv({ CLOUDSTACK_API_URL: ENV.CLOUDSTACK_API_URL });
      assert.fail('expected CloudStackConfigError');
    } catch (err) {
      assert.ok(err instanceof CloudStackConfigError);
      assert.match(err.message, /CLOUDSTACK_API_KEY \(or cloudstack\.apiKey in the config file\)/);
      assert.match(err.message, /CLOUDSTACK_SECRET_KEY \(or cloudstack\.secretKey in the config file\)/);
      assert.doesNotMatch(err.message, /CLOUDSTACK_API_URL/);
      assert.equal(err.missing.length, 2);
    }
  });

  test('refuses a URL without http or https and says which variable holds it', () => {
    assert.throws(
      () => cloudStackConfigFromEnv({ ...ENV, CLOUDSTACK_API_URL: 'ftp://cloud.example.com/client/api' }),
      (err: unknown) =>
        err instanceof CloudStackConfigError &&
        /url \(CLOUDSTACK_API_URL\) must start with http/.test(err.message),
    );
    assert.throws(
      () => cloudStackConfigFromEnv({ ...ENV, CLOUDSTACK_API_URL: 'not a url' }),
      (err: unknown) => err instanceof CloudStackConfigError && /CLOUDSTACK_API_URL/.test(err.message),
    );
  });

  test('refuses out-of-range numbers from the config file with the key name', () => {
    assert.throws(
      () => cloudStackConfigFromEnv(ENV, { timeoutMs: 5, pageSize: 0 }),
      (err: unknown) =>
        err instanceof CloudStackConfigError &&
        /timeoutMs must be at least 100 ms/.test(err.message) &&
        /pageSize/.test(err.message),
    );
  });
});
