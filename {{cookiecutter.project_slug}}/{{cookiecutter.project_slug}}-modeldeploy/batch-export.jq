# The stage's template configuration for the batch transform, from that stage's endpoint export
# (build.py: the model version, its baselines, the monitor's settings) and the batch settings
# (<stage>-batch-config.json). buildspec.yml runs it as
#   jq -s --arg bucket "$ARTIFACT_BUCKET" --arg deployment batch -f batch-export.jq \
#     staging-config-export.json staging-batch-config.json
# With deployment "batch" only the parameters batch-transform-template.yml declares are kept (a
# parameter the template lacks fails the deploy); with "both" the stack is the endpoint and the
# batch templates merged, so every endpoint parameter stays.
def shared: [
  "ProjectSlug", "StageName", "ModelPackageArn", "ModelPackageVersion", "ModelExecutionRoleArn",
  "SourceCommit", "OwnerTeam", "DataCaptureKmsKeyId", "EnableMonitoring",
  "MonitoringScheduleExpression", "MonitoringInstanceType", "MonitorImageUri",
  "BaselineStatisticsS3Uri", "BaselineConstraintsS3Uri", "DriftFeatureNames",
  "DriftAlarmThreshold", "DriftAlarmActionsEnabled", "NotificationTopicArn"
];
.[0] as $export
| .[1] as $settings
| $export.Parameters as $endpoint
| {
    Parameters: (
      (if $deployment == "both" then $endpoint
       else $endpoint | with_entries(select(.key as $key | shared | index($key))) end)
      + $settings.Parameters
      + {BatchName: ($endpoint.EndpointName + "-batch"), ArtifactBucket: $bucket}
    ),
    Tags: (($settings.Tags // {}) + $export.Tags)
  }
