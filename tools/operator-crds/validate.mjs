// Validate Prometheus Operator custom resources against the operator's own schemas (types,
// enums, patterns, required fields), as kubernetes-models compiled them from its CRDs.
// stdin: a JSON list of objects; stdout: a JSON list of problems, one string each (empty: all
// valid). Kinds it does not know are a problem too, so nothing passes unchecked.
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const MODELS = { PodMonitor, PrometheusRule, ServiceMonitor };

function problems(doc) {
  const where = `${doc.kind}/${doc.metadata?.name ?? "?"}`;
  const Model = doc.apiVersion === "monitoring.coreos.com/v1" ? MODELS[doc.kind] : undefined;
  if (Model === undefined) {
    return [`${where}: ${doc.apiVersion} ${doc.kind} is not a known operator kind`];
  }
  try {
    new Model(doc).validate();
    return [];
  } catch (error) {
    return [`${where}: ${error.message}`];
  }
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).flatMap(problems)));
