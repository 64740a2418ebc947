// Whether the standard OpenTelemetry variables ask for traces (docs/OPERATIONS.md, "Traces"),
// read apart from ops/tracing.ts so that deciding loads none of the SDK.

export type TracesExporter = 'otlp' | 'console'

/** What the OTEL_* variables ask for: undefined when traces are off. */
export function tracesExporterOf (env: NodeJS.ProcessEnv): TracesExporter | undefined {
  if (env.OTEL_SDK_DISABLED === 'true') return undefined
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map(name => name.trim()).filter(name => name !== '')
  if (exporters.includes('none')) return undefined
  if (exporters.includes('console')) return 'console'
  if (exporters.includes('otlp')) return 'otlp'
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? ''
  return endpoint === '' ? undefined : 'otlp'
}
