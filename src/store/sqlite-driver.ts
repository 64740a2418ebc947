import { createRequire } from 'node:module'
import type BetterSqlite3 from 'better-sqlite3'

// Two builds of better-sqlite3, one per kind of runtime (docs/ARCHITECTURE.md, "Runtimes"):
// - better-sqlite3 12 (V8's C++ API, node::ObjectWrap) is the last major that runs on Node 20;
//   on Node 24 its Statement's destructor can assert when a collection runs outside JavaScript,
//   and the process aborts (nodejs/node#65446, WiseLibs/better-sqlite3#1515).
// - better-sqlite3 13 (Node-API, prebuilt binaries inside the package, installed under the
//   alias better-sqlite3-napi) has no such destructor, but needs Node 22 and crashes Node 20
//   (a segmentation fault when a database is opened, so it must never be loaded there).
// The same JavaScript API, so the rest of the store does not know which it has.

/** The package this process loads: the Node-API build from Node 22 on, the older one before. */
export const sqlitePackage = Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3'

const require = createRequire(import.meta.url)

/** better-sqlite3's Database class, from the package that is safe on this Node. */
export const SqliteDatabase = require(sqlitePackage) as typeof BetterSqlite3

/** The instance type, under one name whichever package was loaded. */
export type SqliteDatabase = BetterSqlite3.Database
