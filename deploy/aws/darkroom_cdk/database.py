"""The catalog's PostgreSQL: Aurora Serverless v2 in the stack's VPC, or a given one.

The functions reach AWS services from the VPC's private subnets through VPC endpoints: gateway
endpoints (free) for S3 and DynamoDB, interface endpoints for SQS, EventBridge, SNS and Secrets
Manager (and Rekognition when the recipe uses it). With egress=none (the default) there is no
NAT gateway and no internet route; egress=nat adds one per endpoint AZ for recipes that call
model services. The functions read the credentials from the secret at run time
(darkroom/adapters/aws/secrets.py): no password in the template or in a function's
configuration, and a rotated password is picked up without a redeploy.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from darkroom_cdk.stages import Options

DATABASE_NAME = "darkroom"
USERNAME = "darkroom"
LOG_RETENTION_FLOW = logs.RetentionDays.ONE_MONTH
ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_11  # pgvector 0.8; pauses at 0 ACU (16.3+)
# Everything a URL's userinfo would have to escape: the generated password stays URL-safe.
URL_UNSAFE = " %+~`#$&*()|[]{}:;<>?!'/@\"\\^=,"


ROTATION_DAYS = 30


def function_subnets(options: Options) -> ec2.SubnetType:
    """Where the functions (and Aurora) sit: isolated, or private with a NAT route out."""
    if options.egress == "nat":
        return ec2.SubnetType.PRIVATE_WITH_EGRESS
    return ec2.SubnetType.PRIVATE_ISOLATED


@dataclass(frozen=True)
class Database:
    secret: secretsmanager.ISecret  # username, password, host, port (and dbname)
    name: str  # the database, when the secret has no dbname
    vpc: ec2.Vpc | None
    cluster: rds.DatabaseCluster | None

    def allow_from(self, peer: ec2.IConnectable) -> None:
        if self.cluster is not None:
            self.cluster.connections.allow_default_port_from(peer, "darkroom functions")


def build_database(scope: Construct, options: Options, interface_services: list[str]) -> Database:
    if options.database == "external":
        assert options.database_secret_arn is not None  # checked with the context
        secret = secretsmanager.Secret.from_secret_complete_arn(
            scope, "ExternalDatabaseSecret", options.database_secret_arn
        )
        return Database(secret, DATABASE_NAME, None, None)
    stage = options.stage
    vpc = build_vpc(scope, options, interface_services)
    public = options.db_public_cidr is not None
    cluster = rds.DatabaseCluster(
        scope,
        "Database",
        engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
        writer=rds.ClusterInstance.serverless_v2("Writer", publicly_accessible=public),
        serverless_v2_min_capacity=stage.db_min_acu,
        serverless_v2_max_capacity=stage.db_max_acu,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PUBLIC if public else function_subnets(options)
        ),
        credentials=rds.Credentials.from_generated_secret(
            USERNAME, secret_name=f"{options.name}/database", exclude_characters=URL_UNSAFE
        ),
        default_database_name=DATABASE_NAME,
        storage_encrypted=True,
        backup=rds.BackupProps(retention=Duration.days(stage.db_backup_days)),
        deletion_protection=stage.retain_data,
        removal_policy=RemovalPolicy.SNAPSHOT if stage.retain_data else RemovalPolicy.DESTROY,
    )
    if options.db_public_cidr is not None:
        cluster.connections.allow_default_port_from(
            ec2.Peer.ipv4(options.db_public_cidr), "operator tools (context db_public_cidr)"
        )
    assert cluster.secret is not None  # generated above
    # The hosted single-user rotation (Secrets Manager's own function, in the functions'
    # subnets, through the Secrets Manager endpoint). darkroom re-reads the secret at run time.
    cluster.add_rotation_single_user(
        automatically_after=Duration.days(ROTATION_DAYS),
        vpc_subnets=ec2.SubnetSelection(subnet_type=function_subnets(options)),
        endpoint=vpc.node.find_child("SecretsmanagerEndpoint"),  # type: ignore[arg-type]
    )
    return Database(cluster.secret, DATABASE_NAME, vpc, cluster)


def build_vpc(scope: Construct, options: Options, interface_services: list[str]) -> ec2.Vpc:
    subnets = [
        ec2.SubnetConfiguration(
            name="functions", subnet_type=function_subnets(options), cidr_mask=22
        )
    ]
    if options.db_public_cidr is not None or options.egress == "nat":
        # Public subnets: the NAT gateways' (egress=nat), or a database operators reach directly.
        subnets.append(
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
        )
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        vpc_name=options.name,
        max_azs=2,  # Aurora's subnet group needs two availability zones
        nat_gateways=options.stage.endpoint_azs if options.egress == "nat" else 0,
        subnet_configuration=subnets,
        gateway_endpoints={
            "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            "DynamoDB": ec2.GatewayVpcEndpointOptions(
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
            ),
        },
    )
    # Rejected traffic and who talked to whom, for incident response (cdk-nag VPC7).
    vpc.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(
            logs.LogGroup(
                scope,
                "VpcFlowLogs",
                retention=LOG_RETENTION_FLOW,
                removal_policy=RemovalPolicy.DESTROY,
            )
        ),
        traffic_type=ec2.FlowLogTrafficType.REJECT,
    )
    private = vpc.select_subnets(subnet_type=function_subnets(options)).subnets
    endpoint_subnets = ec2.SubnetSelection(subnets=private[: options.stage.endpoint_azs])
    for service in interface_services:
        vpc.add_interface_endpoint(
            f"{service.title()}Endpoint",
            service=ec2.InterfaceVpcEndpointAwsService(service),
            subnets=endpoint_subnets,
            private_dns_enabled=True,
        )
    return vpc
