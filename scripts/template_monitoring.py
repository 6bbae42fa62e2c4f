"""What template.yaml watches: every metric its alarms and dashboard name, and which
function each alarm and log group is for.

Usage: template_monitoring.py TEMPLATE > monitoring.json

Output:
  metrics: [{where, namespace, name, dimensions: {key: value}}], from each alarm (one
      metric, or each MetricStat of a metric-math alarm) and each dashboard widget;
  functions: the logical ids of the functions;
  alarmed: {function logical id: [metric names of the AWS/Lambda alarms on it]};
  logged: the functions a log group is named for (its LogGroupName's reference, or a
      function's LoggingConfig.LogGroup).
Read with cfn-lint's decoder, which knows CloudFormation's short forms (`!Sub`, ...).
"""

import json
import re
import sys

from cfnlint.decode import decode_str


def dimensions_of(pairs):
    return {d["Name"]: json.dumps(d["Value"]) if not isinstance(d["Value"], str) else d["Value"]
            for d in pairs or []}


def ref_of(value):
    """The logical id a `!Ref X` (or `${X}` in a `!Sub`) names, if any."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        names = re.findall(r"\$\{([A-Za-z0-9]+)\}", text)
        return names[0] if names else None
    return None


def dashboard_metrics(where, body):
    text = body["Fn::Sub"] if isinstance(body["Fn::Sub"], str) else body["Fn::Sub"][0]
    # Substitutions stand for strings inside the JSON; any placeholder keeps it valid.
    parsed = json.loads(re.sub(r"\$\{[^}]+\}", "substituted", text))
    found = []
    for widget in parsed["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            parts = [p for p in metric if not isinstance(p, dict)]
            if len(parts) < 2:
                continue  # an expression
            if "." in parts[:2]:
                sys.exit(f"{where}: the '.' shorthand is not read here; spell the metric out")
            namespace, name, rest = parts[0], parts[1], parts[2:]
            found.append({
                "where": f"{where}: {widget['properties'].get('title')}",
                "namespace": namespace,
                "name": name,
                "dimensions": dict(zip(rest[0::2], rest[1::2])),
            })
    return found


def main():
    template, matches = decode_str(open(sys.argv[1]).read())
    if template is None:
        sys.exit(f"template.yaml does not parse: {matches}")
    resources = template["Resources"]
    metrics, alarmed, logged = [], {}, []
    functions = [k for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            if "MetricName" in props:
                metrics.append({
                    "where": logical,
                    "namespace": props["Namespace"],
                    "name": props["MetricName"],
                    "dimensions": dimensions_of(props.get("Dimensions")),
                })
                if props["Namespace"] == "AWS/Lambda":
                    for d in props.get("Dimensions", []):
                        if d["Name"] == "FunctionName" and ref_of(d["Value"]):
                            alarmed.setdefault(ref_of(d["Value"]), []).append(props["MetricName"])
            for part in props.get("Metrics", []):
                stat = part.get("MetricStat")
                if stat:
                    metric = stat["Metric"]
                    metrics.append({
                        "where": f"{logical}.{part['Id']}",
                        "namespace": metric["Namespace"],
                        "name": metric["MetricName"],
                        "dimensions": dimensions_of(metric.get("Dimensions")),
                    })
        elif resource["Type"] == "AWS::CloudWatch::Dashboard":
            metrics.extend(dashboard_metrics(logical, props["DashboardBody"]))
        elif resource["Type"] == "AWS::Logs::LogGroup":
            named = ref_of(props.get("LogGroupName"))
            if named in functions:
                logged.append(named)
    for logical in functions:
        group = resources[logical].get("Properties", {}).get("LoggingConfig", {}).get("LogGroup")
        if group and ref_of(group) in resources:
            logged.append(logical)
    json.dump({"metrics": metrics, "functions": functions, "alarmed": alarmed,
               "logged": sorted(set(logged))}, sys.stdout)


if __name__ == "__main__":
    main()
