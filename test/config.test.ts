import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from '../src/config.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'quay-config-'));

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const dir = tmp();
    const c = loadConfig({ DATA_DIR: dir });
    expect(c).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      SERVER_HOSTNAME: 'localhost:8080',
      PREFERRED_URL_SCHEME: 'http',
      SUPER_USERS: [],
      FEATURE_USER_INITIALIZE: true,
      FEATURE_ANONYMOUS_ACCESS: true,
      LOG_LEVEL: 'info',
      FRESH_LOGIN_TIMEOUT: 600,
    });
    expect(c.DATABASE_URL).toBeUndefined();
  });

  it('generates DATABASE_SECRET_KEY once and keeps it in DATA_DIR', () => {
    const dir = tmp();
    const a = loadConfig({ DATA_DIR: dir });
    const b = loadConfig({ DATA_DIR: dir });
    expect(a.DATABASE_SECRET_KEY.length).toBeGreaterThanOrEqual(32);
    expect(b.DATABASE_SECRET_KEY).toBe(a.DATABASE_SECRET_KEY);
    expect(readFileSync(path.join(dir, 'secret_key'), 'utf8').trim()).toBe(a.DATABASE_SECRET_KEY);
    expect(loadConfig({ DATA_DIR: tmp(), DATABASE_SECRET_KEY: 'k'.repeat(20) }).DATABASE_SECRET_KEY).toBe('k'.repeat(20));
  });

  it('reads env values and a Quay-style config.yaml, the environment winning', () => {
    const dir = tmp();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, 'SERVER_HOSTNAME: quay.example.com\nPREFERRED_URL_SCHEME: https\nSUPER_USERS: [admin, ops]\nDB_URI: postgresql://db/quay\nFEATURE_USER_INITIALIZE: false\n');
    const c = loadConfig({ DATA_DIR: dir, CONFIG_FILE: file, PREFERRED_URL_SCHEME: 'http', PORT: '9000' });
    expect(c).toMatchObject({
      SERVER_HOSTNAME: 'quay.example.com',
      PREFERRED_URL_SCHEME: 'http',
      SUPER_USERS: ['admin', 'ops'],
      DATABASE_URL: 'postgresql://db/quay',
      FEATURE_USER_INITIALIZE: false,
      PORT: 9000,
    });
    expect(loadConfig({ DATA_DIR: dir, SUPER_USERS: ' a, b ,,c' }).SUPER_USERS).toEqual(['a', 'b', 'c']);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ PREFERRED_URL_SCHEME: 'ftp' }, 'PREFERRED_URL_SCHEME'],
    [{ SERVER_HOSTNAME: 'https://quay.example.com' }, 'SERVER_HOSTNAME'],
    [{ FEATURE_USER_INITIALIZE: 'maybe' }, 'FEATURE_USER_INITIALIZE'],
    [{ FRESH_LOGIN_TIMEOUT: 'soon' }, 'FRESH_LOGIN_TIMEOUT'],
    [{ DATABASE_SECRET_KEY: 'short' }, 'DATABASE_SECRET_KEY'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ])('reports %j naming the key', (env, key) => {
    expect(() => loadConfig({ DATA_DIR: tmp(), ...env })).toThrowError(ConfigError);
    expect(() => loadConfig({ DATA_DIR: tmp(), ...env })).toThrowError(new RegExp(`- ${key}:`));
  });

  it('reports every problem at once, and unreadable or malformed config files', () => {
    try {
      loadConfig({ DATA_DIR: tmp(), PORT: 'x', PREFERRED_URL_SCHEME: 'ftp' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT/);
      expect((err as Error).message).toMatch(/PREFERRED_URL_SCHEME/);
    }
    expect(() => loadConfig({ DATA_DIR: tmp(), CONFIG_FILE: '/nonexistent/config.yaml' })).toThrowError(/CONFIG_FILE: cannot read/);
    const bad = path.join(tmp(), 'c.yaml');
    writeFileSync(bad, '- just\n- a list\n');
    expect(() => loadConfig({ DATA_DIR: tmp(), CONFIG_FILE: bad })).toThrowError(/CONFIG_FILE: .* must be a YAML mapping/);
  });

  it('parses Quay durations', () => {
    expect(parseDuration('10m')).toBe(600);
    expect(parseDuration('2w')).toBe(1209600);
    expect(parseDuration(42)).toBe(42);
    expect(parseDuration('12')).toBe(12);
    expect(parseDuration('1y')).toBeUndefined();
  });
});
