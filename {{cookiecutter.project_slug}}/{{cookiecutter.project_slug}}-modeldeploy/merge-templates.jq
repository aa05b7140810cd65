# deployment "both": one stage stack from the endpoint template and the batch template (both
# packaged as JSON), run by buildspec.yml as
#   jq -s -f merge-templates.jq endpoint-template.json batch-template.json
# A name both define in Resources, Conditions or Outputs must mean the same thing in both, or
# the merge refuses: one template's resource must never silently replace the other's.
.[0] as $endpoint
| .[1] as $batch
| [ "Parameters", "Conditions", "Resources", "Outputs"
    | . as $section
    | ($endpoint[$section] // {}) as $a
    | ($batch[$section] // {}) as $b
    | $a | keys[] | select($b[.] != null and $b[.] != $a[.]) | "\($section).\(.)" ] as $clashes
| if ($clashes | length) > 0 then error("both templates define, differently: \($clashes | join(", "))")
  else $endpoint * $batch
       | .Description = "One stage (staging or prod) of an approved model package: the real-time endpoint and the scheduled batch transform, each with data capture, a data quality monitor and a drift alarm."
  end
