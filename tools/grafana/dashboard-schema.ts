// The types Grafana's own frontend uses for a dashboard JSON (the @grafana/schema "veneer"
// Dashboard) and for the options and field config of the panel types acs-exporter's dashboards
// use. ts-json-schema-generator turns this one interface into one JSON Schema (see
// tests/dashboards/grafana_schema.py); a panel type added to the dashboards needs a line here.
import type { Dashboard } from '@grafana/schema/dist/types/veneer/dashboard.types';
import type * as stat from '@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen';
import type * as table from '@grafana/schema/dist/types/raw/composable/table/panelcfg/x/types.gen';
import type * as timeseries from '@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen';

export interface GrafanaSchemas {
  dashboard: Dashboard;
  panels: {
    stat: { options: stat.Options; custom: Record<string, never> };
    table: { options: table.Options; custom: table.FieldConfig };
    timeseries: { options: timeseries.Options; custom: timeseries.FieldConfig };
  };
}
