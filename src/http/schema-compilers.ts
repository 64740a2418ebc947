import { AjvCompiler } from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { FastifyServerOptions } from 'fastify'

// Compiling every route's validators (ajv) and serializers (fast-json-stringify) is most of
// what building the app costs: about 1.3 of the 2.5 CPU-seconds a process takes to start, and
// 0.5 s for each app a test builds. Outside production each is compiled when a request first
// needs it, so a process compiles only what it serves. Production compiles everything at start,
// as fastify does by default: a schema fault stops the start-up, not a request, and no first
// request waits for a compile.

type Validate = ((data: unknown) => unknown) & { errors?: unknown }

/** A validator that compiles on its first call and then hands on its errors as ajv's own does. */
function compiledOnFirstUse (compile: () => Validate): Validate {
  let validate: Validate | undefined
  const lazy: Validate = (data: unknown) => {
    validate ??= compile()
    const result = validate(data)
    lazy.errors = validate.errors
    return result
  }
  return lazy
}

// One pool per process: apps built with the same shared schemas and options (every test app)
// share one ajv instance, whose cache then serves the same route schema to each of them.
const validatorPool = AjvCompiler()
const serializerPool = SerializerSelector()

export const schemaCompilersOnFirstUse: NonNullable<FastifyServerOptions['schemaController']> = {
  compilersFactory: {
    buildValidator: (externalSchemas, options) => {
      const compilerFor = validatorPool(externalSchemas, options)
      // Typed as ajv's function; fastify calls it and reads its errors, nothing else.
      return route => compiledOnFirstUse(() => compilerFor(route) as Validate) as unknown as ReturnType<typeof compilerFor>
    },
    buildSerializer: (externalSchemas, options) => {
      const compilerFor = serializerPool(externalSchemas, options)
      return route => {
        let serialize: ((data: unknown) => string) | undefined
        return (data: unknown) => (serialize ??= compilerFor(route))(data)
      }
    }
  }
}
