"""Each function's IAM policies as template.yaml deploys them, intrinsics resolved.

Usage: policies.py TEMPLATE PARAMETERS_JSON > policies.json

PARAMETERS_JSON gives the stack parameters to resolve with (any left out take their
defaults) plus the pseudo parameters `AWS::AccountId` and `AWS::Region`. The output maps
each function's binary name (its `BuildProperties.Binary`) to its inline policy statements
(what SAM attaches to the function's role), and `kmsKeyPolicy` to the sealing key's policy.
Read with cfn-lint's decoder, which knows CloudFormation's short forms (`!Sub`, `!If`, ...).
"""

import json
import re
import sys

from cfnlint.decode import decode_str

RESOURCE_ARNS = {
    # What `!GetAtt X.Arn` and `!Ref X` give for the resources the policies name.
    "AWS::DynamoDB::Table": "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    "AWS::KMS::Key": "arn:{partition}:kms:{region}:{account}:key/{name}",
    "AWS::SQS::Queue": "arn:{partition}:sqs:{region}:{account}:{name}",
}


def main():
    template, matches = decode_str(open(sys.argv[1]).read())
    if template is None:
        sys.exit(f"template.yaml does not parse: {matches}")
    given = json.loads(sys.argv[2])
    params = {
        name: spec.get("Default")
        for name, spec in template.get("Parameters", {}).items()
    }
    params.update({k: v for k, v in given.items() if not k.startswith("AWS::")})
    for name, spec in template.get("Parameters", {}).items():
        if spec.get("Type") == "CommaDelimitedList" and isinstance(params[name], str):
            params[name] = [] if params[name] == "" else params[name].split(",")
    pseudo = {
        "AWS::AccountId": given["AWS::AccountId"],
        "AWS::Region": given["AWS::Region"],
        "AWS::Partition": given.get("AWS::Partition", "aws"),
        "AWS::URLSuffix": "amazonaws.com",
    }
    resources = template["Resources"]
    names = given.get("ResourceNames", {})

    def arn_of(logical):
        kind = resources[logical]["Type"]
        pattern = RESOURCE_ARNS.get(kind)
        if pattern is None:
            sys.exit(f"no ARN shape for {logical} ({kind})")
        return pattern.format(
            partition=pseudo["AWS::Partition"],
            region=pseudo["AWS::Region"],
            account=pseudo["AWS::AccountId"],
            name=names.get(logical, logical),
        )

    def ref(name):
        if name in pseudo:
            return pseudo[name]
        if name in params:
            return params[name]
        if name in resources:
            return names.get(name, name)
        sys.exit(f"!Ref {name}: unknown")

    def get_att(logical, attribute):
        if attribute == "Arn":
            return arn_of(logical)
        sys.exit(f"!GetAtt {logical}.{attribute}: unknown attribute")

    conditions = {}

    def condition(name):
        if name not in conditions:
            conditions[name] = bool(resolve(template["Conditions"][name]))
        return conditions[name]

    def sub(text, variables):
        def one(match):
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key:
                logical, attribute = key.split(".", 1)
                return get_att(logical, attribute)
            value = ref(key)
            if isinstance(value, list):
                sys.exit(f"!Sub ${{{key}}}: a list")
            return str(value)

        return re.sub(r"\$\{([^}!][^}]*)\}", one, text)

    def resolve(node):
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return ref(value)
            if key == "Fn::GetAtt":
                logical, attribute = value if isinstance(value, list) else value.split(".", 1)
                return get_att(logical, attribute)
            if key == "Fn::Sub":
                if isinstance(value, list):
                    text, variables = value
                    return sub(text, {k: resolve(v) for k, v in variables.items()})
                return sub(value, {})
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(i) for i in resolve(items))
            if key == "Fn::Split":
                separator, text = value
                return resolve(text).split(separator)
            if key == "Fn::If":
                name, then, otherwise = value
                return resolve(then if condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = resolve(value)
                return left == right
            if key == "Fn::Not":
                return not resolve(value[0])
            if key == "Condition":
                return condition(value)
        return {key: resolve(value) for key, value in node.items()}

    out = {}
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        statements = []
        for policy in resource["Properties"].get("Policies", []):
            if "Statement" not in policy:
                sys.exit(f"{logical}: only inline policy statements are read")
            statements.extend(resolve(policy["Statement"]))
        out[binary] = statements
    out["kmsKeyPolicy"] = resolve(resources["DkimSealingKey"]["Properties"]["KeyPolicy"])
    json.dump(out, sys.stdout, indent=1)


main()
