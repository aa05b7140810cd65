# The batch stack's template configuration for one stage, from that stage's endpoint export
# (build.py: the model version, its baselines and the alarm built on them) and its batch
# settings (<stage>-batch-config.json). Run by buildspec.yml:
#   jq -s --arg bucket "$ARTIFACT_BUCKET" -f batch-export.jq \
#     staging-config-export.json staging-batch-config.json > staging-batch-config-export.json
# The settings file comes first so it can set only its own parameters; an unknown one fails
# the stack update, which names it.
.[0] as $export
| .[1] as $settings
| {
    Parameters: (
      $settings.Parameters
      + ($export.Parameters | {
          ProjectSlug, StageName, ModelPackageArn, ModelPackageVersion, ModelExecutionRoleArn,
          SourceCommit, OwnerTeam, MonitorImageUri, BaselineStatisticsS3Uri,
          BaselineConstraintsS3Uri, DriftFeatureNames, DriftAlarmThreshold, NotificationTopicArn
        })
      + {BatchName: ($export.Parameters.EndpointName + "-batch"), ArtifactBucket: $bucket}
    ),
    Tags: (($settings.Tags // {}) + $export.Tags)
  }
